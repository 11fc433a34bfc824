/**
 * The bubblewrap provider was called "process" (and its execute backend "bwrap"): the old names
 * still reach it from every place they may survive: the operator's settings, an agent's workload
 * config on chain (immutable), and the provider column of an existing database.
 */
import { expect } from "chai";
import { hexlify, toUtf8Bytes } from "ethers";
import { loadConfig } from "../../../keeper/config";
import type { Deprecation } from "../../../keeper/configRenames";
import { BubblewrapProvider } from "../../../keeper/providers/bubblewrap";
import { chooseLocalProvider } from "../../../keeper/providers/local";
import { ProviderRegistry } from "../../../keeper/providers/registry";
import { parseWorkloadConfig } from "../../../keeper/sessions/workloadSpec";
import { silentLog } from "../shared/chain";
import { Cleanup, tempDir, testDockerHost } from "./helpers";

describe('bubblewrap provider: its old name "process" still reaches it', function () {
  this.timeout(30_000);
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it("LOCAL_PROVIDER=process is read as bubblewrap (with a deprecation) and picks it even where a Docker engine is configured", async () => {
    const seen: Deprecation[] = [];
    const cfg = loadConfig({ LOCAL_PROVIDER: "process", DOCKER_HOST: testDockerHost(), DATA_DIR: cleanup.dir(tempDir()) }, undefined, (d) =>
      seen.push(d),
    );
    expect(cfg.LOCAL_PROVIDER).to.equal("bubblewrap");
    expect(seen.map((d) => d.message)).to.deep.equal([
      "LOCAL_PROVIDER=process (in the environment) is deprecated: use LOCAL_PROVIDER=bubblewrap",
    ]);
    const p = await chooseLocalProvider(cfg, silentLog);
    expect(p).to.be.instanceOf(BubblewrapProvider);
    expect(p.name).to.equal("bubblewrap");
  });

  it('a workload config naming provider "process" is accepted and read as "bubblewrap"', () => {
    const hex = hexlify(toUtf8Bytes(JSON.stringify({ command: ["true"], providers: ["ionet", "process", "local"] })));
    expect(parseWorkloadConfig(hex).providers).to.deep.equal(["ionet", "bubblewrap", "local"]);
    const current = hexlify(toUtf8Bytes(JSON.stringify({ command: ["true"], providers: ["bubblewrap"] })));
    expect(parseWorkloadConfig(current).providers).to.deep.equal(["bubblewrap"]);
  });

  it('the registry finds the bubblewrap provider under "process" (a session recorded before the rename)', () => {
    const local = new BubblewrapProvider({ stateDir: cleanup.dir(tempDir()) });
    const registry = new ProviderRegistry(local, []);
    // has() has no fallback: it tells a found name from an unknown one (get() falls back to local).
    expect(registry.has("process")).to.equal(true);
    expect(registry.get("process")).to.equal(local);
    expect(registry.isCloud("process")).to.equal(false);
    expect(registry.resolve("process")).to.equal("bubblewrap");
    expect(registry.resolve("bubblewrap")).to.equal("bubblewrap");
    expect(registry.has("kubernetes")).to.equal(false);
  });
});
