/**
 * Money is conserved by batching (fast-check): after any sequence of costs owed and batch passes,
 * every unit owed is either still owed or in exactly one transfer, each transfer's amount is the sum of
 * the costs it pays, and nothing owed to a provider with a destination stays behind at or above the
 * minimum after a pass.
 */
import { expect } from "chai";
import fc from "fast-check";
import { Wallet } from "ethers";
import { Payouts } from "../../../keeper/payouts/payouts";
import { openStore } from "../../../keeper/store/store";
import { silentLog } from "../shared/chain";

const DEST = { ionet: { chain: "SOL", token: "t", address: "a" }, spheron: { chain: 8453, token: "t", address: "a" } };

describe("payout batching conserves every USDC unit (property)", () => {
  it("costs = still owed + sum of transfers, for random sequences", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: 1n, max: 1_000_000n }),
        fc.array(
          fc.oneof(
            fc.record({ owe: fc.constantFrom("ionet", "spheron", "akash"), amount: fc.bigInt({ min: 0n, max: 400_000n }) }),
            fc.constant({ batch: true }),
          ),
          { maxLength: 40 },
        ),
        async (min, steps) => {
          const store = openStore(":memory:");
          const db = store.db;
          const b = new Payouts(
            store,
            new Wallet(Wallet.createRandom().privateKey),
            { apiUrl: "http://127.0.0.1:9", integrator: "x" },
            DEST,
            { chainId: 8453, usdc: "0x" + "11".repeat(20), minUsdc: min, maxSlippage: 0.005, maxAttempts: 3, pollSeconds: 1 },
            silentLog,
          );
          let n = 0;
          let total = 0n;
          for (const s of steps) {
            if ("batch" in s) {
              await b.batch();
              for (const p of Object.keys(DEST)) {
                const owed = db.prepare("SELECT cost FROM provision_attempts WHERE provider = ? AND bridge_transfer_id IS NULL").all(p) as {
                  cost: string;
                }[];
                const sum = owed.reduce((x, r) => x + BigInt(r.cost), 0n);
                expect(sum === 0n || sum < min, `${p} left ${sum} owed at min ${min}`).to.equal(true);
              }
            } else {
              db.prepare(
                "INSERT INTO provision_attempts (instance_id, seq, provider, state, started_at, deadline_at, cost) VALUES (?, 1, ?, 'stopped', 0, 0, ?)",
              ).run(`i${++n}`, s.owe, s.amount.toString());
              total += s.amount;
            }
          }
          const owed = (
            db.prepare("SELECT cost FROM provision_attempts WHERE bridge_transfer_id IS NULL").all() as { cost: string }[]
          ).reduce((x, r) => x + BigInt(r.cost), 0n);
          const transfers = db.prepare("SELECT id, amount FROM bridge_transfers").all() as { id: number; amount: string }[];
          for (const t of transfers) {
            const items = (
              db.prepare("SELECT cost FROM provision_attempts WHERE bridge_transfer_id = ?").all(t.id) as { cost: string }[]
            ).reduce((x, r) => x + BigInt(r.cost), 0n);
            expect(BigInt(t.amount)).to.equal(items);
          }
          expect(owed + transfers.reduce((x, t) => x + BigInt(t.amount), 0n)).to.equal(total);
          const akash = db
            .prepare("SELECT count(*) n FROM provision_attempts WHERE provider = 'akash' AND bridge_transfer_id IS NOT NULL")
            .get() as { n: number };
          expect(akash.n, "no destination: never paid out").to.equal(0);
          db.close();
        },
      ),
      { numRuns: 200 },
    );
  });
});
