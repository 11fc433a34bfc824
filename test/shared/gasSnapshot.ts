/**
 * Committed gas snapshots in the spirit of Uniswap's `*.gas.spec.ts`: each measured figure must equal
 * the one in test/__snapshots__/gas.json. A change in gas fails the run until the snapshot is
 * regenerated on purpose with `UPDATE_GAS_SNAPSHOT=1 npm test` and the diff is committed.
 */
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";

const FILE = path.join(__dirname, "..", "__snapshots__", "gas.json");
const updating = process.env.UPDATE_GAS_SNAPSHOT === "1";
const stored: Record<string, number> = fs.existsSync(FILE) ? JSON.parse(fs.readFileSync(FILE, "utf8")) : {};
const measured: Record<string, number> = {};

export function snapshotGas(name: string, gasUsed: bigint): void {
  const value = Number(gasUsed);
  measured[name] = value;
  if (updating) {
    const next = { ...stored, ...measured };
    fs.mkdirSync(path.dirname(FILE), { recursive: true });
    fs.writeFileSync(FILE, JSON.stringify(Object.fromEntries(Object.entries(next).sort()), null, 2) + "\n");
    return;
  }
  expect(stored, `no gas snapshot for "${name}": run UPDATE_GAS_SNAPSHOT=1 npm test`).to.have.property(name);
  expect(value, `gas of "${name}" changed (snapshot ${stored[name]})`).to.equal(stored[name]);
}
