/** Key-value facts the keeper keeps about itself (table meta): cursors, versions, last runs. */
import type { Unit } from "./unit";
import { getMeta, setMeta } from "./db";

export class MetaRepo {
  constructor(private readonly unit: Unit) {}

  get(key: string): Promise<string | undefined> {
    return this.unit.run((db) => getMeta(db, key));
  }

  set(key: string, value: string): Promise<void> {
    return this.unit.run((db) => setMeta(db, key, value));
  }
}
