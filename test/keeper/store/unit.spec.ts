/**
 * keeper/store/unit.ts on real SQLite: transactions commit together or not at all, statements from
 * outside an open transaction wait for it instead of joining it, and nested transactions join.
 */
import { expect } from "chai";
import path from "node:path";
import { openStore } from "../../../keeper/store/store";
import { openDatabase } from "../../../keeper/store/db";
import { tempDir } from "../shared/chain";

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("store unit of work", () => {
  it("commits every statement of a transaction together", async () => {
    const store = openStore(":memory:");
    await store.tx(async () => {
      await store.meta.set("a", "1");
      await tick();
      await store.meta.set("b", "2");
    });
    expect(await store.meta.get("a")).to.equal("1");
    expect(await store.meta.get("b")).to.equal("2");
    store.close();
  });

  it("rolls back everything when the transaction throws, and rethrows the same error", async () => {
    const store = openStore(":memory:");
    const boom = new Error("boom");
    let caught: unknown;
    try {
      await store.tx(async () => {
        await store.meta.set("a", "1");
        await tick();
        throw boom;
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.equal(boom);
    expect(await store.meta.get("a")).to.equal(undefined);
    // The connection is usable again.
    await store.tx(async () => store.meta.set("a", "2"));
    expect(await store.meta.get("a")).to.equal("2");
    store.close();
  });

  it("makes outside statements wait for an open transaction, so they neither see nor join it", async () => {
    const store = openStore(":memory:");
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const inside = store.tx(async () => {
      await store.meta.set("x", "tx");
      order.push("tx wrote");
      await gate;
      throw new Error("rolled back");
    });
    await tick();
    const read = store.meta.get("x").then((v) => {
      order.push(`outside read ${v}`);
      return v;
    });
    const write = store.meta.set("y", "outside").then(() => order.push("outside wrote"));
    await tick();
    expect(order).to.deep.equal(["tx wrote"]);
    release();
    await inside.catch(() => undefined);
    expect(await read).to.equal(undefined);
    await write;
    expect(await store.meta.get("y")).to.equal("outside"); // not rolled back with the transaction
    store.close();
  });

  it("runs transactions one after another and lets a nested tx join the outer one", async () => {
    const store = openStore(":memory:");
    const order: string[] = [];
    const a = store.tx(async () => {
      order.push("a start");
      await tick();
      await store.tx(async () => store.meta.set("n", "a"));
      order.push("a end");
    });
    const b = store.tx(async () => {
      order.push("b start");
      await store.meta.set("n", "b");
      order.push("b end");
    });
    await Promise.all([a, b]);
    expect(order).to.deep.equal(["a start", "a end", "b start", "b end"]);
    expect(await store.meta.get("n")).to.equal("b");
    store.close();
  });

  it("holds the write lock from BEGIN, so a second process on the same file waits (BEGIN IMMEDIATE)", async () => {
    const file = path.join(tempDir(), "keeper.sqlite");
    const store = openStore(file);
    const other = openDatabase(file);
    other.pragma("busy_timeout = 0");
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const held = store.tx(async () => {
      await gate;
    });
    await tick();
    expect(() => other.prepare("INSERT INTO meta (key, value) VALUES ('o', '1')").run()).to.throw(/locked|busy/i);
    release();
    await held;
    other.prepare("INSERT INTO meta (key, value) VALUES ('o', '1')").run();
    expect(await store.meta.get("o")).to.equal("1");
    other.close();
    store.close();
  });
});
