/**
 * Crash safety of failover: the keeper (a child process) is SIGKILLed while a session is provisioning
 * on its first provider, and again while it is provisioning on the provider it failed over to. Each
 * restart continues the same attempt: one Spheron deployment, one io.net deployment, two attempts.
 */
import { expect } from "chai";
import path from "node:path";
import Database from "better-sqlite3";
import { startTestChain, TestChain, tempDir } from "../shared/chain";
import { keeperEnv, startSession, until } from "../shared/keeperApp";
import { startKeeper, KeeperChild } from "../shared/keeperProcess";
import { startSpheronStandin } from "../../standins/spheron/server";
import { startIonetStandin } from "../../standins/ionet/server";

describe("failover crash safety (SIGKILL mid-attempt, restart on the same database)", function () {
  this.timeout(180_000);
  let t: TestChain;
  let keeper: KeeperChild | undefined;

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
  });
  after(async () => {
    await keeper?.kill();
    await t?.stop();
  });

  it("a restart continues the current attempt: each provider deployed once, attempts not repeated", async () => {
    const spheron = await startSpheronStandin({ apiKey: "k1", startReads: 25 });
    const ionet = await startIonetStandin({ apiKey: "k2", startReads: 25 });
    spheron.faults.failDeploy = true; // after 25 reads: failed, so the session fails over to io.net
    try {
      const dataDir = tempDir("keeper-failover-crash-");
      const env = keeperEnv(t, dataDir, {
        SPHERON_API_URL: spheron.url,
        SPHERON_API_KEY: "k1",
        IONET_API_URL: ionet.url,
        IONET_API_KEY: "k2",
        PROVIDER_POLL_MS: "100",
        PROVIDER_START_DEADLINE_MS: "30000",
        PROVISION_TIMEOUT_S: "60",
        LOG_LEVEL: "info",
      });
      const db = () => new Database(path.join(dataDir, "keeper.sqlite"), { readonly: true, fileMustExist: true });
      const attempts = () => {
        try {
          const d = db();
          try {
            return d.prepare("SELECT provider, state, seq FROM provision_attempts ORDER BY seq").all() as {
              provider: string;
              state: string;
              seq: number;
            }[];
          } finally {
            d.close();
          }
        } catch {
          return [];
        }
      };
      keeper = startKeeper(env);
      const id = await startSession(t, JSON.stringify({ image: "agentcompute/worker:1", providers: ["ionet"] }), 3600, 0);
      await until("spheron deployment created", () => spheron.deployments.size === 1, 60_000);
      await keeper.kill();
      keeper = startKeeper(env);
      await until("failed over to io.net, deployment created", () => ionet.deployments.size === 1 && attempts().length === 2, 60_000);
      await keeper.kill();
      keeper = startKeeper(env);
      await until("running on io.net", () => attempts()[1]?.state === "running", 60_000);
      expect(attempts()).to.deep.equal([
        { provider: "spheron", state: "failed", seq: 1 },
        { provider: "ionet", state: "running", seq: 2 },
      ]);
      expect(spheron.deployments.size, "spheron rented once across the restarts").to.equal(1);
      expect(ionet.deployments.size, "io.net rented once across the restarts").to.equal(1);
      const c = t.compute();
      await until("Running outcome mined", async () => (await c.queryFilter(c.filters.OutcomeRecorded(id))).length === 2, 30_000);
      const outcomes = await c.queryFilter(c.filters.OutcomeRecorded(id));
      // Provisioning once (across the restarts), when spheron was first paid; Running on io.net.
      expect(outcomes.map((o) => [Number(o.args.outcome), o.args.providerRef])).to.deep.equal([
        [4, "spheron:provisioning"],
        [1, `ionet:${[...ionet.deployments.keys()][0]}`],
      ]);
    } finally {
      await keeper?.kill();
      keeper = undefined;
      await spheron.close();
      await ionet.close();
    }
  });
});
