/**
 * Payouts through the real keeper: a session runs on io.net (stand-in), the agent ends it, the cost of
 * that run is recorded and, being above PAYOUT_MIN_USDC, paid out by the keeper's payouts through the
 * LI.FI stand-in from the treasury wallet; `keeper status --json` shows the transfer and the margin.
 */
import { expect } from "chai";
import path from "node:path";
import { execFile } from "node:child_process";
import { Wallet } from "ethers";
import { startTestChain, TestChain } from "../shared/chain";
import { keeperEnv, startSession, startTestKeeper, until } from "../shared/keeperApp";
import { startIonetStandin } from "../../standins/ionet/server";
import { startLifiStandin } from "../../standins/lifi/server";
import { devWallet } from "../../../localnet/chain";
import { TestBridgeDiamond__factory } from "../../../typechain-types";
import type { App } from "../../../keeper/app";

describe("keeper pays io.net through LI.FI after a session (whole keeper, stand-ins)", function () {
  this.timeout(120_000);
  let t: TestChain;
  let app: App & { dataDir: string };
  let ionet: Awaited<ReturnType<typeof startIonetStandin>>;
  let lifi: Awaited<ReturnType<typeof startLifiStandin>>;
  let extra: Record<string, string>;
  let diamond: string;

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    const d = await new TestBridgeDiamond__factory(t.admin).deploy();
    diamond = await d.getAddress();
    await d.waitForDeployment();
    ionet = await startIonetStandin({ apiKey: "io-key", pricePerHour: 0.3 });
    lifi = await startLifiStandin({ rpcUrl: t.chain.rpcUrl, chainId: t.deployment.chainId, diamond, pendingPolls: 1 });
    const treasury = new Wallet(devWallet(2).privateKey, t.rpc);
    await (await t.usdc(t.admin).mint(treasury.address, 100_000_000n)).wait();
    extra = {
      IONET_API_URL: ionet.url,
      IONET_API_KEY: "io-key",
      PROVIDER_POLL_MS: "50",
      LIFI_API_URL: lifi.url,
      LIFI_INTEGRATOR: "agentcompute-e2e",
      PAYOUT_PRIVATE_KEY: devWallet(2).privateKey,
      PAYOUT_DESTINATIONS: JSON.stringify({
        ionet: {
          chain: "SOL",
          token: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
          address: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
        },
      }),
      PAYOUT_MIN_USDC: "100000",
      PAYOUT_POLL_S: "1",
    };
    app = await startTestKeeper(t, extra);
  });
  after(async () => {
    await app?.stop();
    await lifi?.close();
    await ionet?.close();
    await t?.stop();
  });

  it("the run's cost is paid out DONE and keeper status --json shows the transfer and the margin", async () => {
    const diamondBefore = await t.usdc().balanceOf(diamond);
    const id = await startSession(t, JSON.stringify({ image: "agentcompute/worker:1", providers: ["ionet"] }), 3600, 2);
    await until(
      "running on io.net",
      () =>
        (
          app.db.prepare("SELECT state, provider FROM sessions WHERE instance_id = ?").get(id) as
            { state: string; provider: string } | undefined
        )?.state === "running",
    );
    await (await t.compute().endSession(id)).wait();
    await until(
      "transfer DONE",
      () => (app.db.prepare("SELECT state FROM bridge_transfers").get() as { state: string } | undefined)?.state === "done",
      60_000,
    );
    const tr = app.db.prepare("SELECT * FROM bridge_transfers").get() as { amount: string; tx_hash: string };
    expect(tr.amount, "one hour at io.net's 0.30 USD quote").to.equal("300000");
    expect(await t.usdc().balanceOf(diamond)).to.equal(diamondBefore + 300_000n);

    const env = {
      ...keeperEnv(t, app.dataDir, extra),
      PATH: process.env.PATH!,
      HTTP_PORT: String((app.http.server.address() as { port: number }).port),
    };
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["-r", "ts-node/register/transpile-only", "keeper/cli.ts", "status", "--json"],
        { cwd: path.resolve(__dirname, "..", "..", ".."), env },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    const status = JSON.parse(out);
    expect(status.payouts.byState.done).to.deep.equal({ count: 1, amount: "300000" });
    expect(status.payouts.transfers[0].txHash).to.equal(tr.tx_hash);
    const row = status.costs.sessions.find((s: { instanceId: string }) => s.instanceId === id);
    expect(row.providerCost).to.equal("300000");
    expect(BigInt(row.margin)).to.equal(BigInt(row.agentPaid) - 300_000n);
    expect(out).to.not.contain(devWallet(2).privateKey.slice(2));
  });
});
