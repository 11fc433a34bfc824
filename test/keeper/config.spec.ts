import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { ConfigError, loadConfig } from "../../keeper/config";
import { startTestChain, tempDir } from "./shared/chain";
import { keeperEnv, until } from "./shared/keeperApp";
import { startKeeper } from "./shared/keeperProcess";
import { devWallet } from "../../localnet/chain";

function problems(env: Record<string, string>, file?: string): string[] {
  try {
    loadConfig(env, file);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("keeper configuration", () => {
  it("with nothing set, is the embedded default: every setting has a safe value", () => {
    const cfg = loadConfig({});
    expect(cfg.RPC_URL).to.equal(undefined);
    expect(cfg.CONFIRMATIONS).to.equal(3);
    expect(cfg.HTTP_HOST).to.equal("127.0.0.1");
    expect(cfg.DATA_DIR).to.equal("./data");
  });

  it("auto-renewal and sweep settings: defaults, and a RENEWAL_LEAD_S too short for the poll interval is refused by name", () => {
    const cfg = loadConfig({});
    expect(cfg.RENEWAL_LEAD_S).to.equal(300);
    expect(cfg.TREASURY_SWEEP_BLOCKS).to.equal(100);
    expect(cfg.LOCAL_CHAIN_PORT).to.equal(8545);
    expect(loadConfig({ RENEWAL_LEAD_S: "90", TREASURY_SWEEP_BLOCKS: "0" }).TREASURY_SWEEP_BLOCKS).to.equal(0);
    const tooShort = problems({ RENEWAL_LEAD_S: "1", POLL_INTERVAL_MS: "5000" });
    expect(tooShort).to.have.length(1);
    expect(tooShort[0]).to.match(/^RENEWAL_LEAD_S: must be longer than two keeper polls \(POLL_INTERVAL_MS 5000 ms\)/);
    expect(problems({ RENEWAL_LEAD_S: "0" })[0]).to.match(/^RENEWAL_LEAD_S:/);
    expect(problems({ TREASURY_SWEEP_BLOCKS: "-1" })[0]).to.match(/^TREASURY_SWEEP_BLOCKS:/);
  });

  it("names every wrong setting at once, and never echoes a value (it may be a key)", () => {
    const secret = "0xdeadbeef" + "ab".repeat(20);
    const found = problems({ KEEPER_PRIVATE_KEY: secret, CONFIRMATIONS: "-1", RPC_URL: "not a url", LOCAL_PROVIDER: "kubernetes", HTTP_PORT: "99999" });
    const text = found.join("\n");
    for (const name of ["KEEPER_PRIVATE_KEY", "CONFIRMATIONS", "RPC_URL", "LOCAL_PROVIDER", "HTTP_PORT"]) expect(text).to.contain(name);
    expect(found).to.have.length(5);
    expect(text).to.not.contain("deadbeef");
  });

  it("payments v2 settings: defaults, and each wrong value named", () => {
    const cfg = loadConfig({});
    expect(cfg).to.include({ AUTH_ACCEPT_V1: false, WATT_MEMO_NEGATIVE_TTL_S: 10, PAYMENT_LOOKUPS_PER_MIN: 30, BALANCE_SCANS_PER_MIN: 6, WATT_BURN_BACKOFF_MAX_S: 3600 });
    expect(cfg.PUBLIC_URL).to.equal(undefined);
    expect(loadConfig({ PUBLIC_URL: "https://api.example.com/base", AUTH_ACCEPT_V1: "true" })).to.include({ PUBLIC_URL: "https://api.example.com/base", AUTH_ACCEPT_V1: true });
    const found = problems({ PUBLIC_URL: "ftp://files.example.com", AUTH_ACCEPT_V1: "yes", WATT_MEMO_NEGATIVE_TTL_S: "-1", PAYMENT_LOOKUPS_PER_MIN: "0", BALANCE_SCANS_PER_MIN: "1.5", WATT_BURN_BACKOFF_MAX_S: "0" });
    const text = found.join("\n");
    for (const name of ["PUBLIC_URL", "AUTH_ACCEPT_V1", "WATT_MEMO_NEGATIVE_TTL_S", "PAYMENT_LOOKUPS_PER_MIN", "BALANCE_SCANS_PER_MIN", "WATT_BURN_BACKOFF_MAX_S"]) expect(text).to.contain(name);
    expect(found).to.have.length(6);
    expect(problems({ PUBLIC_URL: "not a url" }).join()).to.contain("PUBLIC_URL");
  });

  it("reads a JSON file with the same names; the environment wins; an unknown key in the file is an error", () => {
    const dir = tempDir();
    const file = path.join(dir, "keeper.json");
    fs.writeFileSync(file, JSON.stringify({ CONFIRMATIONS: 7, HTTP_PORT: 9000 }));
    const cfg = loadConfig({ HTTP_PORT: "9100" }, file);
    expect(cfg.CONFIRMATIONS).to.equal(7);
    expect(cfg.HTTP_PORT).to.equal(9100);
    fs.writeFileSync(file, JSON.stringify({ CONFIRMATION: 7 }));
    expect(problems({}, file)).to.deep.equal([`CONFIRMATION (in ${file}): unknown setting`]);
    fs.writeFileSync(file, "{not json");
    expect(problems({}, file)[0]).to.match(/^config file .*keeper\.json: /);
  });

  it("the CLI exits 2 with the list of problems on bad configuration", () => {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "keeper/cli.ts", "start"], {
      cwd: path.resolve(__dirname, "..", ".."),
      env: { PATH: process.env.PATH, CONFIRMATIONS: "lots", KEEPER_PRIVATE_KEY: "0x1234" },
      encoding: "utf8",
    });
    expect(r.status).to.equal(2);
    expect(r.stderr).to.contain("invalid keeper configuration");
    expect(r.stderr).to.contain("CONFIRMATIONS");
    expect(r.stderr).to.contain("KEEPER_PRIVATE_KEY: must be 0x followed by 64 hex digits");
    expect(r.stderr).to.not.contain("0x1234");
  });

  it("a running keeper's logs never contain its private key", async function () {
    this.timeout(120_000);
    const t = await startTestChain();
    const env = keeperEnv(t, tempDir(), { LOG_LEVEL: "trace" });
    const keeper = startKeeper(env);
    let out = "";
    keeper.process.stdout!.on("data", (d) => (out += d));
    keeper.process.stderr!.on("data", (d) => (out += d));
    try {
      await until("keeper started", () => keeper.logs.some((l) => l.msg === "keeper started"), 60_000);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await keeper.kill("SIGKILL");
      await t.stop();
    }
    const key = devWallet(1).privateKey;
    expect(out.length).to.be.greaterThan(100);
    expect(out).to.not.contain(key.slice(2));
    expect(out.toLowerCase()).to.not.contain(key.slice(2).toLowerCase());
  });
});
