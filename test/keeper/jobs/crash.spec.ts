/**
 * kill -9 while a paid job runs: the charge and the running job were committed together, so the
 * restarted service finds the job and settles it exactly once (JOB_INTERRUPTED, refunded to the
 * agent's balance); a retry of the request gets that answer, not a second run or charge.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import path from "node:path";
import { Keypair } from "@solana/web3.js";
import { startApiHarness } from "./harness";
import { signAgentRequest } from "../../../keeper/payments/agentAuth";
import { openDatabase } from "../../../keeper/store/db";
import { credit } from "../../../keeper/payments/ledger";
import { openStore } from "../../../keeper/store/store";
import { tempDir } from "../shared/chain";
import { until } from "../shared/keeperApp";

const WATT = 10n ** 9n;

describe("a paid job interrupted by kill -9", function () {
  this.timeout(60_000);

  it("is settled once on restart: refunded, and its retry answers JOB_INTERRUPTED", async () => {
    const dir = tempDir();
    const agent = Keypair.generate();
    const seed = openStore(path.join(dir, "keeper.sqlite"));
    await seed.tx(() => credit(seed, agent.publicKey.toBase58(), 1000n * WATT, "grant"));
    seed.close();

    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(__dirname, "apiServer.ts")], {
      cwd: path.resolve(__dirname, "../../.."),
      env: { ...process.env, HARNESS_DATA_DIR: dir, TEST_LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (b: Buffer) => resolve(JSON.parse(b.toString().split("\n")[0]).url));
      child.on("exit", (c) => reject(new Error(`harness exited ${c}`)));
    });
    const body = JSON.stringify({ job_id: "crash-1", language: "bash", code: "echo started; sleep 30", timeout: 20 });
    const serviceId = ((await (await fetch(`${url}/api/v1/service`)).json()) as { service_id: string }).service_id;
    const pending = fetch(`${url}/api/v1/execute`, {
      method: "POST",
      headers: { "content-type": "application/json", ...signAgentRequest(agent.secretKey, serviceId, "POST", "/api/v1/execute", body) },
      body,
    }).catch((e: Error) => e);
    const watch = openDatabase(path.join(dir, "keeper.sqlite"));
    await until(
      "job running",
      () => (watch.prepare("SELECT state FROM jobs WHERE job_id = 'crash-1'").get() as { state: string } | undefined)?.state === "running",
      20_000,
    );
    const charged = watch.prepare("SELECT amount FROM watt_balances WHERE agent = ?").get(agent.publicKey.toBase58()) as { amount: string };
    expect(BigInt(charged.amount)).to.equal(500n * WATT); // standard tier, taken when the job started
    watch.close();
    child.kill("SIGKILL");
    expect(await pending).to.be.instanceOf(Error); // the connection died with the process

    const h = await startApiHarness({}, dir);
    try {
      expect(h.balance(agent)).to.equal(1000n * WATT);
      const j = await h.get("/api/v1/jobs/crash-1", { agent });
      expect(j.body).to.include({ state: "failed", watt_charged: 0, watt_refunded: 500 });
      expect(j.body.result).to.include({ success: false, code: "JOB_INTERRUPTED" });
      const retry = await h.post("/api/v1/execute", body, { agent });
      expect(retry.body.code).to.equal("JOB_INTERRUPTED");
      expect(retry.headers["x-job-replayed"]).to.equal("true");
      expect(h.balance(agent), "refunded once").to.equal(1000n * WATT);
      expect(
        (h.db.prepare("SELECT count(*) n FROM watt_ledger WHERE job_id = 'crash-1' AND kind = 'refund'").get() as { n: number }).n,
      ).to.equal(1);
      expect((await h.totals()).discrepancy).to.equal(0n);
    } finally {
      await h.close();
    }
    // A second restart changes nothing.
    const h2 = await startApiHarness({}, dir);
    expect(h2.balance(agent)).to.equal(1000n * WATT);
    await h2.close();
  });
});
