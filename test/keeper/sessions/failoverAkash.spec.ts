/**
 * Failover from Akash through the real keeper: a session paid for AKASH, whose network (the Akash
 * chain stand-in) gets no bids, is given up on Akash after its deadline and runs on io.net instead;
 * with io.net not allowed it is refunded with a Failed outcome.
 */
import { expect } from "chai";
import { startTestChain, TestChain } from "../shared/chain";
import { startSession, startTestKeeper, until } from "../shared/keeperApp";
import { addressOf, startAkashNetwork, TENANT_MNEMONIC, type AkashNetwork } from "../../standins/akash";
import { startIonetStandin } from "../../standins/ionet/server";
import type { App } from "../../../keeper/app";
import type { SessionRow } from "../../../keeper/sessions/lifecycle";
import type { AttemptRow } from "../../../keeper/sessions/failover";

const AKASH = 1;

describe("keeper failover from Akash (no bids) to io.net", function () {
  this.timeout(120_000);
  let t: TestChain;
  let app: App & { dataDir: string };
  let net: AkashNetwork;
  let ionet: Awaited<ReturnType<typeof startIonetStandin>>;

  before(async () => {
    t = await startTestChain();
    await t.rpc.send("evm_setIntervalMining", [100]);
    const tenant = await addressOf(TENANT_MNEMONIC);
    net = await startAkashNetwork({ blockTimeMs: 20, bidDelayMs: 30, balances: { [tenant]: 100_000_000n }, providers: [{ price: 20 }] });
    net.chain.faults.noBids = true;
    ionet = await startIonetStandin({ apiKey: "io-key" });
    app = await startTestKeeper(t, {
      AKASH_REST_URL: net.restUrl,
      AKASH_MNEMONIC: TENANT_MNEMONIC,
      AKASH_CHAIN_ID: net.chain.chainId,
      AKASH_BID_WINDOW_MS: "200",
      AKASH_REQUEST_TIMEOUT_MS: "2000",
      AKASH_PROVISION_DEADLINE_MS: "3000",
      IONET_API_URL: ionet.url,
      IONET_API_KEY: "io-key",
      PROVIDER_POLL_MS: "50",
      PROVISION_TIMEOUT_S: "10",
    });
  });
  after(async () => {
    await app?.stop();
    await ionet?.close();
    await net?.stop();
    await t?.stop();
  });

  const session = (id: string) => app.db.prepare("SELECT * FROM sessions WHERE instance_id = ?").get(id) as SessionRow | undefined;
  const attempts = (id: string) =>
    app.db.prepare("SELECT * FROM provision_attempts WHERE instance_id = ? ORDER BY seq").all(id) as AttemptRow[];
  const stateIs = (id: string, ...s: string[]) =>
    until(`session in ${s}`, () => s.includes(session(id)?.state ?? "") && session(id), 90_000);

  it("no bids on Akash: the session runs on io.net, the agent's next allowed provider", async () => {
    const id = await startSession(t, JSON.stringify({ image: "nginx:1.25", providers: ["ionet"] }), 3600, AKASH);
    const row = await stateIs(id, "running");
    expect(row.provider).to.equal("ionet");
    expect(attempts(id).map((a) => [a.provider, a.state])).to.deep.equal([
      ["akash", "failed"],
      ["ionet", "running"],
    ]);
    expect(attempts(id)[0].error).to.match(/bid/i);
  });

  it("no bids and nothing else allowed: refunded, with a Failed outcome on chain", async () => {
    const id = await startSession(t, JSON.stringify({ image: "nginx:1.25", providers: ["akash"] }), 3600, AKASH);
    const row = await stateIs(id, "refunded");
    expect(attempts(id).map((a) => a.provider)).to.deep.equal(["akash"]);
    const c = t.compute();
    const outcomes = await c.queryFilter(c.filters.OutcomeRecorded(id));
    expect(
      outcomes.map((o) => Number(o.args.outcome)),
      "Provisioning when akash was tried, then Failed",
    ).to.deep.equal([4, 2]);
    expect(row.refunded).to.equal(row.deposited);
  });
});
