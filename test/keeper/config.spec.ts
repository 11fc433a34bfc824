import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { ConfigError, loadConfig } from "../../keeper/config";
import { RENAMED_KEYS, type Deprecation } from "../../keeper/configRenames";
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
    const found = problems({
      KEEPER_PRIVATE_KEY: secret,
      CONFIRMATIONS: "-1",
      RPC_URL: "not a url",
      LOCAL_PROVIDER: "kubernetes",
      HTTP_PORT: "99999",
    });
    const text = found.join("\n");
    for (const name of ["KEEPER_PRIVATE_KEY", "CONFIRMATIONS", "RPC_URL", "LOCAL_PROVIDER", "HTTP_PORT"]) expect(text).to.contain(name);
    expect(found).to.have.length(5);
    expect(text).to.not.contain("deadbeef");
  });

  it("payments v2 settings: defaults, and each wrong value named", () => {
    const cfg = loadConfig({});
    expect(cfg).to.include({
      AUTH_ACCEPT_V1: false,
      WATT_MEMO_NEGATIVE_TTL_S: 10,
      PAYMENT_LOOKUPS_PER_MIN: 30,
      BALANCE_SCANS_PER_MIN: 6,
      WATT_BURN_BACKOFF_MAX_S: 3600,
    });
    expect(cfg.PUBLIC_URL).to.equal(undefined);
    expect(loadConfig({ PUBLIC_URL: "https://api.example.com/base", AUTH_ACCEPT_V1: "true" })).to.include({
      PUBLIC_URL: "https://api.example.com/base",
      AUTH_ACCEPT_V1: true,
    });
    const found = problems({
      PUBLIC_URL: "ftp://files.example.com",
      AUTH_ACCEPT_V1: "yes",
      WATT_MEMO_NEGATIVE_TTL_S: "-1",
      PAYMENT_LOOKUPS_PER_MIN: "0",
      BALANCE_SCANS_PER_MIN: "1.5",
      WATT_BURN_BACKOFF_MAX_S: "0",
    });
    const text = found.join("\n");
    for (const name of [
      "PUBLIC_URL",
      "AUTH_ACCEPT_V1",
      "WATT_MEMO_NEGATIVE_TTL_S",
      "PAYMENT_LOOKUPS_PER_MIN",
      "BALANCE_SCANS_PER_MIN",
      "WATT_BURN_BACKOFF_MAX_S",
    ])
      expect(text).to.contain(name);
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

  describe("renamed settings (keeper/configRenames.ts)", () => {
    const load = (env: Record<string, string>, file?: string) => {
      const seen: Deprecation[] = [];
      const cfg = loadConfig(env, file, (d) => seen.push(d));
      return { cfg, seen };
    };
    const key = devWallet(3).privateKey;
    const oldPayouts = {
      BRIDGE_PRIVATE_KEY: key,
      BRIDGE_DESTINATIONS: JSON.stringify({ ionet: { chain: "SOL", token: "t", address: "a" } }),
      BRIDGE_MIN_USDC: "1234",
      BRIDGE_MAX_SLIPPAGE: "0.01",
      BRIDGE_MAX_ATTEMPTS: "5",
      BRIDGE_POLL_S: "7",
    };

    it("an old key alone is read as the new one, with one deprecation naming the new key and never the value", () => {
      expect(Object.keys(oldPayouts).sort()).to.deep.equal(
        Object.keys(RENAMED_KEYS)
          .filter((k) => k.startsWith("BRIDGE_"))
          .sort(),
      );
      const { cfg, seen } = load(oldPayouts);
      expect(cfg).to.include({
        PAYOUT_PRIVATE_KEY: key,
        PAYOUT_DESTINATIONS: oldPayouts.BRIDGE_DESTINATIONS,
        PAYOUT_MIN_USDC: 1234,
        PAYOUT_MAX_SLIPPAGE: 0.01,
        PAYOUT_MAX_ATTEMPTS: 5,
        PAYOUT_POLL_S: 7,
      });
      expect(Object.keys(cfg).filter((k) => k.startsWith("BRIDGE_"))).to.deep.equal([]);
      expect(seen.map((d) => [d.old, d.replacement])).to.have.deep.members(
        Object.keys(oldPayouts).map((k) => [k, k.replace("BRIDGE_", "PAYOUT_")]),
      );
      for (const d of seen) expect(d.message).to.equal(`${d.old} (in the environment) is deprecated: use ${d.replacement}`);
      expect(seen.map((d) => d.message).join("\n")).to.not.contain(key.slice(2));
    });

    it("the new key wins when both are set, and the old one is reported as ignored", () => {
      const { cfg, seen } = load({ BRIDGE_MIN_USDC: "1", PAYOUT_MIN_USDC: "2" });
      expect(cfg.PAYOUT_MIN_USDC).to.equal(2);
      expect(seen.map((d) => d.message)).to.deep.equal([
        "BRIDGE_MIN_USDC (in the environment) is deprecated and ignored: PAYOUT_MIN_USDC is set",
      ]);
    });

    it("old keys are accepted in the config file too; the environment still wins, and each old key is reported once", () => {
      const file = path.join(tempDir(), "keeper.json");
      fs.writeFileSync(file, JSON.stringify({ PAYOUT_MIN_USDC: 5, BRIDGE_POLL_S: 9, BRIDGE_MAX_ATTEMPTS: 4 }));
      const { cfg, seen } = load({ BRIDGE_MIN_USDC: "6", BRIDGE_POLL_S: "11" }, file);
      expect(cfg).to.include({ PAYOUT_MIN_USDC: 6, PAYOUT_POLL_S: 11, PAYOUT_MAX_ATTEMPTS: 4 });
      expect(seen.map((d) => d.old)).to.have.members(["BRIDGE_MIN_USDC", "BRIDGE_POLL_S", "BRIDGE_MAX_ATTEMPTS"]);
      expect(seen).to.have.length(3);
      expect(seen.find((d) => d.old === "BRIDGE_MAX_ATTEMPTS")!.message).to.equal(
        `BRIDGE_MAX_ATTEMPTS (in ${file}) is deprecated: use PAYOUT_MAX_ATTEMPTS`,
      );
    });

    it("old values: LOCAL_PROVIDER=process and EXECUTE_BACKEND=bwrap are read as bubblewrap, each with one deprecation", () => {
      const { cfg, seen } = load({ LOCAL_PROVIDER: "process", EXECUTE_BACKEND: "bwrap" });
      expect(cfg).to.include({ LOCAL_PROVIDER: "bubblewrap", EXECUTE_BACKEND: "bubblewrap" });
      expect(seen.map((d) => [d.old, d.replacement])).to.have.deep.members([
        ["LOCAL_PROVIDER=process", "LOCAL_PROVIDER=bubblewrap"],
        ["EXECUTE_BACKEND=bwrap", "EXECUTE_BACKEND=bubblewrap"],
      ]);
      expect(load({ LOCAL_PROVIDER: "bubblewrap", EXECUTE_BACKEND: "docker" }).seen).to.deep.equal([]);
      expect(problems({ LOCAL_PROVIDER: "bwrap" })[0], "an old value is only renamed for its own key").to.match(/^LOCAL_PROVIDER:/);
    });

    it("without a listener, the warning goes to Node's deprecation channel (the CLI's stderr)", () => {
      const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "keeper/cli.ts", "start"], {
        cwd: path.resolve(__dirname, "..", ".."),
        env: { PATH: process.env.PATH, BRIDGE_MIN_USDC: "1000", CONFIRMATIONS: "lots" },
        encoding: "utf8",
      });
      expect(r.status).to.equal(2);
      expect(r.stderr).to.contain(
        "[AGENTCOMPUTE_RENAMED_SETTING] DeprecationWarning: BRIDGE_MIN_USDC (in the environment) is deprecated: use PAYOUT_MIN_USDC",
      );
      expect(r.stderr.match(/DeprecationWarning/g)).to.have.length(1);
    });
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
