/**
 * Every uakt accounted for: after any sequence of provision / status (top-up) / extend / terminate,
 * the operator's wallet + what sits in escrow + what was paid to providers + fees equals what the
 * wallet started with, and the keeper's own record of deposits matches the chain's.
 */
import { expect } from "chai";
import fc from "fast-check";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC } from "../../../standins/akash";
import { makeProvider, spec } from "./helpers";

const START = 1_000_000_000n;
const FEE = 10_000n;

describe("akash money conservation (property, against the stand-in)", () => {
  it("wallet + escrow + paid to providers + fees is constant after random sequences", async () => {
    const tenant = await addressOf(TENANT_MNEMONIC);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ op: fc.constantFrom("provision", "status", "extend", "terminate"), key: fc.constantFrom("a", "b") }), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.integer({ min: 5, max: 120 }),
        async (ops, price) => {
          const net = await startAkashNetwork({ blockTimeMs: 15, bidDelayMs: 10, balances: { [tenant]: START }, providers: [{ price }] });
          try {
            const { provider, store } = makeProvider(net, ":memory:", { bidWindowMs: 40, maxPricePerBlock: 200 });
            const endsAt = Math.floor(Date.now() / 1000) + 3 * 86_400;
            for (const { op, key } of ops) {
              if (op === "provision") await provider.provision({ idempotencyKey: key, spec, endsAt }).catch(() => undefined);
              else if (op === "status") await provider.status(key);
              else if (op === "extend") await provider.extend(key, endsAt + 86_400).catch(() => undefined);
              else await provider.terminate(key);
            }
            await new Promise((r) => setTimeout(r, 50)); // let the last block deliver
            const wallet = net.chain.accounts.get(tenant)!.balance;
            const deployments = [...net.chain.deployments.values()].filter((d) => d.owner === tenant);
            const escrow = deployments.reduce((s, d) => s + d.escrow, 0);
            const paid = deployments.reduce((s, d) => s + d.transferred, 0);
            const fees = BigInt([...net.chain.txs.values()].length) * FEE;
            expect(Number(wallet) + escrow + paid + Number(fees)).to.be.closeTo(Number(START), 1e-6);
            for (const d of deployments) {
              // A key re-provisioned after terminate moves its record to a new dseq; the current ones must match.
              const rec = (await Promise.all(["a", "b"].map((k) => store.deployment(k)))).find((r) => r?.dseq === d.dseq);
              if (rec) expect(Number(rec.deposited)).to.equal(d.deposits.reduce((s, x) => s + x.amount, 0));
            }
          } finally {
            await net.stop();
          }
        },
      ),
      { numRuns: 6 },
    );
  });
});
