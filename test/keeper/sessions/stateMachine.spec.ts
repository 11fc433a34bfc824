/**
 * The session state machine without a chain: the real SessionLifecycle (with failover) on a real
 * SQLite store held in memory, fed contract events encoded and decoded with the contract's ABI and
 * ingested the way keeper/chain/eventReader.ts stores them, running workloads on in-memory providers
 * (test/keeper/shared/fakeProvider.ts). What it checks is what the keeper leaves behind: session
 * states and their recorded transitions, the actions queued for the chain, and the provider calls.
 */
import { expect } from "chai";
import { hexlify, id as keccakId, toUtf8Bytes, zeroPadValue, toBeHex } from "ethers";
import pino from "pino";
import { openStore, Store } from "../../../keeper/store/store";
import type { ActionRow } from "../../../keeper/store/outbox";
import type { NewEvent } from "../../../keeper/store/events";
import { computeInterface, OUTCOME } from "../../../keeper/chain/contracts";
import { ProviderRegistry } from "../../../keeper/providers/registry";
import { Failover } from "../../../keeper/sessions/failover";
import { SessionLifecycle } from "../../../keeper/sessions/lifecycle";
import { now } from "../../../keeper/clock";
import { FakeProvider } from "../shared/fakeProvider";

const SPHERON = 0; // the on-chain provider id the sessions here are paid for
const AGENT = "0x000000000000000000000000000000000000a9e7";
const TREASURY = "0x0000000000000000000000000000000000007ea5";
const REORG_WINDOW = 64;
const log = pino({ level: "silent" });

/** The agent's config bytes as written on chain. */
const configBytes = (providers: string[]) =>
  hexlify(toUtf8Bytes(JSON.stringify({ image: "agentcompute/worker:1", command: ["sleep", "3600"], providers })));

/**
 * Blocks of contract events, stored as the event reader stores them: each event is encoded with the
 * contract's ABI and decoded back, its arguments serialised with bigints as decimal strings.
 */
class FakeChain {
  private block = 100;
  private txCount = 0;

  constructor(private readonly store: Store) {}

  /** One event in its own transaction and block, ingested (not applied yet); returned to ingest again. */
  async emit(name: string, values: unknown[]): Promise<NewEvent> {
    const fragment = computeInterface.getEvent(name)!;
    const encoded = computeInterface.encodeEventLog(fragment, values);
    const decoded = computeInterface.decodeEventLog(fragment, encoded.data, encoded.topics);
    const args: Record<string, unknown> = {};
    fragment.inputs.forEach((input, i) => {
      const v: unknown = decoded[i];
      args[input.name] = typeof v === "bigint" ? v.toString() : v;
    });
    this.block += 1;
    const ev: NewEvent = {
      txHash: keccakId(`tx ${++this.txCount}`),
      logIndex: 0,
      blockNumber: this.block,
      blockHash: this.hashOf(this.block),
      name,
      instanceId: decoded[0] as string,
      args: JSON.stringify(args),
    };
    await this.ingest([ev]);
    return ev;
  }

  /** Stores events again (a re-read of the same blocks); the cursor stays at the newest block. */
  ingest(events: NewEvent[]): Promise<number> {
    return this.store.events.ingest(events, this.block, this.hashOf(this.block), REORG_WINDOW);
  }

  private hashOf(block: number): string {
    return zeroPadValue(toBeHex(block), 32);
  }
}

/** Everything one test runs: the store, the providers (shared across keeper restarts, like a cloud), the events. */
function rig() {
  const store = openStore(":memory:");
  // The paid-for provider first; then by price: akash is cheaper than the operator's own hardware here.
  const spheron = new FakeProvider("spheron", 3_000_000n);
  const akash = new FakeProvider("akash", 1_000_000n);
  const local = new FakeProvider("docker", 2_000_000n);
  const registry = new ProviderRegistry(local, [spheron, akash]);
  const chain = new FakeChain(store);
  /** A keeper process's state machine: a new one is what a restart builds on the same database. */
  const keeper = () => {
    const failover = new Failover(
      store,
      registry,
      { deadlineSeconds: 600, breakerThreshold: 3, cooldownSeconds: 600, quoteTimeoutMs: 1000 },
      log,
    );
    return new SessionLifecycle(
      store,
      { providerFor: (providerId) => registry.forId(providerId), claimIntervalSeconds: 3600, provisionTimeoutSeconds: 600, failover },
      log,
    );
  };
  return { store, spheron, akash, local, chain, keeper };
}

type Rig = ReturnType<typeof rig>;

let sessionCount = 0;
/** A SessionStarted event for a new session paid for SPHERON, allowing `providers` after it. */
async function startSession(
  r: Rig,
  providers = ["akash", "local"],
  duration = 3600,
): Promise<{ instanceId: string; startTx: string; started: NewEvent }> {
  const instanceId = keccakId(`session ${++sessionCount}`);
  const started = await r.chain.emit("SessionStarted", [instanceId, AGENT, SPHERON, duration, 5_000_000n, configBytes(providers)]);
  return { instanceId, startTx: started.txHash, started };
}

/** The stored history of a session: "from>to" per recorded transition. */
function transitions(store: Store, instanceId: string): string[] {
  const rows = store.db
    .prepare("SELECT from_state, to_state FROM session_transitions WHERE instance_id = ? ORDER BY id")
    .all(instanceId) as { from_state: string | null; to_state: string }[];
  return rows.map((t) => `${t.from_state ?? "none"}>${t.to_state}`);
}

async function queued(store: Store): Promise<ActionRow[]> {
  return store.outbox.queued(1000);
}

/** A queued recordOutcome, decoded: which session, which outcome, and the ref it reports. */
function outcome(a: ActionRow): { key: string; instanceId: string; outcome: number; ref: string } {
  expect(a.kind).to.equal("recordOutcome");
  const [instanceId, code, ref] = computeInterface.decodeFunctionData("recordOutcome", a.calldata);
  return { key: a.idempotency_key, instanceId: instanceId as string, outcome: Number(code), ref: ref as string };
}

async function outcomes(store: Store): Promise<ReturnType<typeof outcome>[]> {
  return (await queued(store)).filter((a) => a.kind === "recordOutcome").map(outcome);
}

async function stateOf(store: Store, instanceId: string): Promise<string | undefined> {
  return (await store.sessions.get(instanceId))?.state;
}

describe("session state machine (in-memory store, fake providers, no chain)", () => {
  let r: Rig;

  beforeEach(() => {
    r = rig();
  });

  afterEach(() => {
    r.store.close();
  });

  it("SessionStarted -> provisioning -> running, reporting Provisioning then Running, then claims once active", async () => {
    const lc = r.keeper();
    const { instanceId, startTx } = await startSession(r);

    expect(await lc.applyEvents()).to.equal(1);
    const requested = (await r.store.sessions.get(instanceId))!;
    expect(requested.state).to.equal("requested");
    expect(requested.provider_id).to.equal(SPHERON);
    expect(requested.duration).to.equal(3600);
    expect(requested.deposited).to.equal("5000000");
    expect(requested.workload_key).to.equal(`s-${instanceId.slice(2)}-${startTx.slice(2, 14)}`);
    expect(r.spheron.calls).to.deep.equal([]); // applying events never calls a provider

    await lc.reconcile(now());
    const running = (await r.store.sessions.get(instanceId))!;
    expect(running.state).to.equal("running");
    expect(running.provider).to.equal("spheron");
    expect(running.workload_ref).to.equal("spheron-w1");
    expect(transitions(r.store, instanceId)).to.deep.equal(["none>requested", "requested>provisioning", "provisioning>running"]);

    // Exactly one provision call, keyed by the session's workload key, bounded by its paid time.
    const calls = r.spheron.callsOf("provision");
    expect(calls).to.have.length(1);
    expect(calls[0].key).to.equal(running.workload_key);
    expect(calls[0].endsAt).to.be.within(now() + 3600 - 5, now() + 3600);
    expect(r.akash.callsOf("provision")).to.deep.equal([]);
    expect(r.local.callsOf("provision")).to.deep.equal([]);

    expect(await outcomes(r.store)).to.deep.equal([
      { key: `outcome:${instanceId}:provisioning`, instanceId, outcome: OUTCOME.Provisioning, ref: "spheron:provisioning" },
      { key: `outcome:${instanceId}:running`, instanceId, outcome: OUTCOME.Running, ref: "spheron:spheron-w1" },
    ]);
    const [attempt] = await r.store.provisionAttempts.all();
    expect(attempt).to.include({ instance_id: instanceId, seq: 1, provider: "spheron", state: "running", tries: 1 });

    // Not active on chain yet (no end time): nothing to claim.
    await lc.reconcile(now());
    expect((await queued(r.store)).filter((a) => a.kind === "claim")).to.deep.equal([]);

    // Running reported and activated on chain: the next pass checks the workload and claims the escrow.
    const endsAt = now() + 3600;
    await r.chain.emit("SessionActivated", [instanceId, now(), endsAt]);
    await lc.applyEvents();
    expect((await r.store.sessions.get(instanceId))!.ends_at).to.equal(endsAt);
    const bucketBefore = Math.floor(now() / 3600);
    await lc.reconcile(now());
    const claims = (await queued(r.store)).filter((a) => a.kind === "claim");
    expect(claims).to.have.length(1);
    // Keyed by the claim interval it falls in (one claim per interval, whatever the number of passes).
    expect([bucketBefore, Math.floor(now() / 3600)].map((b) => `claim:${instanceId}:${b}`)).to.include(claims[0].idempotency_key);
    expect(computeInterface.decodeFunctionData("claim", claims[0].calldata)[0]).to.equal(instanceId);
    // Each pass over a running session checks its workload.
    expect(r.spheron.callsOf("status").map((c) => c.key)).to.deep.equal([running.workload_key, running.workload_key]);
    await lc.reconcile(now());
    expect((await queued(r.store)).filter((a) => a.kind === "claim")).to.have.length(1);
    expect(await stateOf(r.store, instanceId)).to.equal("running");
    expect(r.spheron.callsOf("provision")).to.have.length(1);
  });

  it("fails over to the next allowed provider when the paid-for one refuses", async () => {
    const lc = r.keeper();
    const { instanceId } = await startSession(r, ["akash", "local"]);
    await lc.applyEvents();
    r.spheron.provisionBehaviour = "fail";

    await lc.reconcile(now());
    // Spheron gave up: its attempt failed, the session stays provisioning, due again at once.
    expect(await stateOf(r.store, instanceId)).to.equal("provisioning");
    const key = (await r.store.sessions.get(instanceId))!.workload_key;
    expect(r.spheron.callsOf("provision").map((c) => c.key)).to.deep.equal([key]);
    expect(r.spheron.callsOf("terminate").map((c) => c.key)).to.deep.equal([key]); // whatever it started is cleaned up

    await lc.reconcile(now());
    const s = (await r.store.sessions.get(instanceId))!;
    expect(s.state).to.equal("running");
    expect(s.provider).to.equal("akash"); // cheaper than the operator's own hardware
    expect(r.akash.callsOf("provision").map((c) => c.key)).to.deep.equal([key]); // the same idempotency key
    expect(r.local.callsOf("provision")).to.deep.equal([]);
    expect(r.spheron.callsOf("provision")).to.have.length(1); // a provider given up is not asked again

    const attempts = await r.store.provisionAttempts.all();
    expect(attempts.map((a) => `${a.seq}:${a.provider}:${a.state}`)).to.deep.equal(["1:spheron:failed", "2:akash:running"]);
    expect(attempts[0].error).to.match(/spheron has no capacity/);
    expect(transitions(r.store, instanceId)).to.deep.equal([
      "none>requested",
      "requested>provisioning",
      "provisioning>provisioning", // attempt 2 recorded in the history
      "provisioning>running",
    ]);
    // Provisioning is reported once per session (the first cloud attempt), Running where it runs.
    expect(await outcomes(r.store)).to.deep.equal([
      { key: `outcome:${instanceId}:provisioning`, instanceId, outcome: OUTCOME.Provisioning, ref: "spheron:provisioning" },
      { key: `outcome:${instanceId}:running`, instanceId, outcome: OUTCOME.Running, ref: "akash:akash-w1" },
    ]);
    expect((await r.store.providerHealth.all()).map((h) => [h.provider, h.consecutive_failures])).to.deep.equal([
      ["akash", 0],
      ["spheron", 1],
    ]);
  });

  it("every allowed provider failing: Failed outcome queued, then refunded on SessionEnded", async () => {
    const lc = r.keeper();
    const { instanceId } = await startSession(r, ["akash", "local"]);
    await lc.applyEvents();
    for (const p of [r.spheron, r.akash, r.local]) p.provisionBehaviour = "fail";

    for (let pass = 0; pass < 3; pass++) await lc.reconcile(now());
    expect(await stateOf(r.store, instanceId)).to.equal("provisioning");
    expect((await r.store.provisionAttempts.all()).map((a) => `${a.provider}:${a.state}`)).to.deep.equal([
      "spheron:failed",
      "akash:failed",
      "docker:failed",
    ]);

    await lc.reconcile(now()); // no provider left
    const s = (await r.store.sessions.get(instanceId))!;
    expect(s.state).to.equal("failed");
    expect(s.workload_stopped).to.equal(1);
    expect(s.last_error).to.match(/provisioning failed on every allowed provider/);
    const results = await outcomes(r.store);
    expect(results.map((o) => [o.key, o.outcome])).to.deep.equal([
      [`outcome:${instanceId}:provisioning`, OUTCOME.Provisioning],
      [`outcome:${instanceId}:failed`, OUTCOME.Failed],
    ]);
    expect(results[1].ref).to.match(/^provisioning failed on every allowed provider/);
    for (const p of [r.spheron, r.akash, r.local]) expect(p.callsOf("provision"), p.name).to.have.length(1);

    // Failed is not retried: more passes call no provider and queue nothing more.
    const callsBefore = [r.spheron, r.akash, r.local].map((p) => p.calls.length);
    await lc.reconcile(now());
    expect([r.spheron, r.akash, r.local].map((p) => p.calls.length)).to.deep.equal(callsBefore);
    expect(await queued(r.store)).to.have.length(2);

    // The chain refunds the agent (the Failed outcome ended the session there).
    await r.chain.emit("SessionEnded", [instanceId, AGENT, TREASURY, TREASURY, 0n, 5_000_000n]);
    await lc.applyEvents();
    const refunded = (await r.store.sessions.get(instanceId))!;
    expect(refunded.state).to.equal("refunded");
    expect(refunded.ended_on_chain).to.equal(1);
    expect(refunded.refunded).to.equal("5000000");
    expect(transitions(r.store, instanceId).slice(-2)).to.deep.equal(["provisioning>failed", "failed>refunded"]);
  });

  it("SessionExtended while running: renewing, the workload extended to the new end, running again", async () => {
    const lc = r.keeper();
    const { instanceId } = await startSession(r);
    await lc.applyEvents();
    await lc.reconcile(now());
    const endsAt = now() + 3600;
    await r.chain.emit("SessionActivated", [instanceId, now(), endsAt]);
    await lc.applyEvents();

    await r.chain.emit("SessionExtended", [instanceId, AGENT, 1800, 2_500_000n, endsAt + 1800]);
    await lc.applyEvents();
    const renewing = (await r.store.sessions.get(instanceId))!;
    expect(renewing.state).to.equal("renewing");
    expect(renewing.ends_at).to.equal(endsAt + 1800);
    expect(renewing.duration).to.equal(3600 + 1800);
    expect(renewing.deposited).to.equal("7500000");
    expect(r.spheron.callsOf("extend")).to.deep.equal([]); // events only change state; the pass calls the provider

    await lc.reconcile(now());
    expect(await stateOf(r.store, instanceId)).to.equal("running");
    expect(r.spheron.callsOf("extend")).to.deep.equal([{ method: "extend", key: renewing.workload_key, endsAt: endsAt + 1800 }]);
    expect(r.spheron.workloads.get(renewing.workload_key)!.endsAt).to.equal(endsAt + 1800);
    expect(transitions(r.store, instanceId).slice(-2)).to.deep.equal(["running>renewing", "renewing>running"]);
    expect(r.spheron.callsOf("provision")).to.have.length(1); // the same workload, not a new one
  });

  it("SessionEnded by the agent: ending, the workload stopped, ended (no outcome to report)", async () => {
    const lc = r.keeper();
    const { instanceId } = await startSession(r);
    await lc.applyEvents();
    await lc.reconcile(now());
    const key = (await r.store.sessions.get(instanceId))!.workload_key;
    const queuedBefore = await queued(r.store);

    await r.chain.emit("SessionEnded", [instanceId, AGENT, AGENT, TREASURY, 1_000_000n, 4_000_000n]);
    await lc.applyEvents();
    const ending = (await r.store.sessions.get(instanceId))!;
    expect(ending.state).to.equal("ending");
    expect(ending.ended_on_chain).to.equal(1);
    expect(ending.claimed).to.equal("1000000");
    expect(ending.refunded).to.equal("4000000");
    expect(r.spheron.callsOf("terminate")).to.deep.equal([]);

    await lc.reconcile(now());
    const ended = (await r.store.sessions.get(instanceId))!;
    expect(ended.state).to.equal("ended");
    expect(ended.workload_stopped).to.equal(1);
    expect(r.spheron.callsOf("terminate").map((c) => c.key)).to.deep.equal([key]);
    expect(r.spheron.workloads.get(key)!.stopped).to.equal(true);
    expect(transitions(r.store, instanceId).slice(-2)).to.deep.equal([`running>ending`, "ending>ended"]);
    expect((await queued(r.store)).map((a) => a.idempotency_key)).to.deep.equal(queuedBefore.map((a) => a.idempotency_key));
    // The attempt stopped accruing what the keeper owes the provider.
    expect((await r.store.provisionAttempts.all())[0].state).to.equal("stopped");

    await lc.reconcile(now()); // ended is final: nothing more happens
    expect(r.spheron.callsOf("terminate")).to.have.length(1);
  });

  it("paid time over: the workload stopped, Completed reported, ended once SessionEnded arrives", async () => {
    const lc = r.keeper();
    const { instanceId } = await startSession(r);
    await lc.applyEvents();
    await lc.reconcile(now());
    const endsAt = now() + 3600;
    await r.chain.emit("SessionActivated", [instanceId, now(), endsAt]);
    await lc.applyEvents();

    await lc.reconcile(endsAt); // the chain's latest block is at the end time
    const ending = (await r.store.sessions.get(instanceId))!;
    expect(ending.state).to.equal("ending");
    expect(r.spheron.callsOf("terminate").map((c) => c.key)).to.deep.equal([ending.workload_key]);
    const done = (await outcomes(r.store)).find((o) => o.outcome === OUTCOME.Completed)!;
    expect(done).to.deep.equal({
      key: `outcome:${instanceId}:completed`,
      instanceId,
      outcome: OUTCOME.Completed,
      ref: "spheron:spheron-w1",
    });

    await lc.reconcile(endsAt); // not ended on chain yet: waits, without stopping the workload again
    expect(await stateOf(r.store, instanceId)).to.equal("ending");
    await r.chain.emit("SessionEnded", [instanceId, AGENT, TREASURY, TREASURY, 5_000_000n, 0n]);
    await lc.applyEvents();
    await lc.reconcile(endsAt);
    expect(await stateOf(r.store, instanceId)).to.equal("ended");
    expect(r.spheron.callsOf("terminate")).to.have.length(1);
  });

  it("a workload the provider lost moves to the next allowed provider", async () => {
    const lc = r.keeper();
    const { instanceId } = await startSession(r, ["akash"]);
    await lc.applyEvents();
    await lc.reconcile(now());
    await r.chain.emit("SessionActivated", [instanceId, now(), now() + 3600]);
    await lc.applyEvents();
    const key = (await r.store.sessions.get(instanceId))!.workload_key;

    r.spheron.loseWorkload(key);
    await lc.reconcile(now());
    const moved = (await r.store.sessions.get(instanceId))!;
    expect(moved.state).to.equal("provisioning");
    expect(moved.provider).to.equal("akash");
    expect(r.spheron.callsOf("terminate").map((c) => c.key)).to.deep.equal([key]);

    await lc.reconcile(now());
    expect(await stateOf(r.store, instanceId)).to.equal("running");
    expect(r.akash.callsOf("provision").map((c) => c.key)).to.deep.equal([key]);
    expect((await r.store.provisionAttempts.all()).map((a) => `${a.provider}:${a.state}`)).to.deep.equal([
      "spheron:failed",
      "akash:running",
    ]);
    expect(transitions(r.store, instanceId).slice(-2)).to.deep.equal(["running>provisioning", "provisioning>running"]);
    // The Running outcome was reported for spheron already; its key makes it once per session.
    expect((await outcomes(r.store)).filter((o) => o.outcome === OUTCOME.Running)).to.have.length(1);
  });

  it("a workload lost with no provider left: Failed outcome queued", async () => {
    const lc = r.keeper();
    const { instanceId } = await startSession(r, ["spheron"]); // only the paid-for provider is allowed
    await lc.applyEvents();
    await lc.reconcile(now());
    await r.chain.emit("SessionActivated", [instanceId, now(), now() + 3600]);
    await lc.applyEvents();
    const key = (await r.store.sessions.get(instanceId))!.workload_key;

    r.spheron.loseWorkload(key);
    await lc.reconcile(now());
    expect(await stateOf(r.store, instanceId)).to.equal("failed");
    const failed = (await outcomes(r.store)).find((o) => o.outcome === OUTCOME.Failed)!;
    expect(failed).to.deep.equal({ key: `outcome:${instanceId}:failed`, instanceId, outcome: OUTCOME.Failed, ref: "workload unknown" });
    expect(r.akash.calls).to.deep.equal([]);
  });

  it("the same events ingested and applied again change nothing", async () => {
    const lc = r.keeper();
    const { instanceId, started } = await startSession(r);
    await lc.applyEvents();
    await lc.reconcile(now());
    const endsAt = now() + 3600;
    const events = [
      await r.chain.emit("SessionActivated", [instanceId, now(), endsAt]),
      await r.chain.emit("SessionExtended", [instanceId, AGENT, 1800, 2_500_000n, endsAt + 1800]),
      await r.chain.emit("EscrowClaimed", [instanceId, TREASURY, 700_000n, now()]),
    ];
    await lc.applyEvents();
    await lc.reconcile(now()); // the extension carried to the workload
    await lc.reconcile(now()); // running: the escrow claimed
    const snapshot = async () => ({
      session: await r.store.sessions.get(instanceId),
      transitions: transitions(r.store, instanceId),
      actions: (await queued(r.store)).map((a) => a.idempotency_key),
      // Every pass checks a running workload's status; anything else would be work done again.
      calls: [r.spheron, r.akash, r.local].map((p) => p.calls.filter((c) => c.method !== "status")),
    });
    const before = await snapshot();
    expect(before.session!.deposited).to.equal("7500000");
    expect(before.session!.claimed).to.equal("700000");

    // Re-read (the reader backfilling over the same blocks): deduplicated on (txHash, logIndex).
    expect(await r.chain.ingest(events)).to.equal(0);
    expect(await lc.applyEvents()).to.equal(0);

    // A reorg deeper than the confirmations orphans them, and the new chain holds them again: they come
    // back as applied, so the extension's deposit and the claim are not counted twice.
    await r.store.events.rewindTo(events[0].blockNumber - 1, undefined);
    expect(await r.chain.ingest(events)).to.equal(events.length);
    expect(await lc.applyEvents()).to.equal(0);

    // The same with the payment itself: the running session is neither restarted nor provisioned again.
    await r.store.events.rewindTo(started.blockNumber - 1, undefined);
    expect(await r.chain.ingest([started, ...events])).to.equal(1 + events.length);
    expect(await lc.applyEvents()).to.equal(0);
    await lc.compensateOrphans(events[events.length - 1].blockNumber, 0); // nothing is orphaned any more
    await lc.reconcile(now());

    expect(await snapshot()).to.deep.equal(before);
    expect(r.spheron.callsOf("provision")).to.have.length(1);
  });

  it("two appliers reading the same unapplied events at once apply each event once", async () => {
    const [a, b] = [r.keeper(), r.keeper()];
    const { instanceId } = await startSession(r);
    await r.chain.emit("SessionExtended", [instanceId, AGENT, 1800, 2_500_000n, 0n]);
    await r.chain.emit("EscrowClaimed", [instanceId, TREASURY, 700_000n, now()]);
    // Both read the same batch before either has marked it applied; each event's status decides.
    await Promise.all([a.applyEvents(), b.applyEvents()]);
    const s = (await r.store.sessions.get(instanceId))!;
    expect(s.deposited).to.equal("7500000");
    expect(s.claimed).to.equal("700000");
    expect(s.duration).to.equal(3600 + 1800);
    expect(transitions(r.store, instanceId)).to.deep.equal(["none>requested"]);
  });

  it("a config that does not parse: failed with a Failed outcome, no provider called", async () => {
    const lc = r.keeper();
    const instanceId = keccakId("bad config");
    await r.chain.emit("SessionStarted", [instanceId, AGENT, SPHERON, 3600, 5_000_000n, hexlify(toUtf8Bytes("{not json"))]);
    await lc.applyEvents();
    await lc.reconcile(now());
    expect(await stateOf(r.store, instanceId)).to.equal("failed");
    expect((await outcomes(r.store)).map((o) => [o.key, o.outcome, o.ref])).to.deep.equal([
      [`outcome:${instanceId}:failed`, OUTCOME.Failed, "invalid config: config is not UTF-8 JSON"],
    ]);
    expect([r.spheron, r.akash, r.local].flatMap((p) => p.calls)).to.deep.equal([]);
  });

  it("without failover: the provider of the on-chain id, and a refusal fails the session", async () => {
    const byId = new FakeProvider("spheron");
    const lc = new SessionLifecycle(
      r.store,
      { providerFor: () => byId, claimIntervalSeconds: 3600, provisionTimeoutSeconds: 600, maxAttempts: 1 },
      log,
    );
    const ok = await startSession(r);
    await lc.applyEvents();
    await lc.reconcile(now());
    expect(await stateOf(r.store, ok.instanceId)).to.equal("running");
    // No Provisioning outcome on this path: only Running.
    expect((await outcomes(r.store)).map((o) => [o.outcome, o.ref])).to.deep.equal([[OUTCOME.Running, "spheron:spheron-w1"]]);

    byId.provisionBehaviour = "fail";
    const refused = await startSession(r);
    await lc.applyEvents();
    await lc.reconcile(now());
    expect(await stateOf(r.store, refused.instanceId)).to.equal("failed");
    const failed = (await outcomes(r.store)).filter((o) => o.instanceId === refused.instanceId);
    expect(failed.map((o) => [o.key, o.outcome, o.ref])).to.deep.equal([
      [`outcome:${refused.instanceId}:failed`, OUTCOME.Failed, "provisioning failed: spheron has no capacity"],
    ]);
    const key = (await r.store.sessions.get(refused.instanceId))!.workload_key;
    expect(byId.callsOf("terminate").map((c) => c.key)).to.deep.equal([key]);
    expect([r.spheron, r.akash, r.local].flatMap((p) => p.calls)).to.deep.equal([]); // the failover providers are not used
  });

  it("two passes over the same state do the work once", async () => {
    const lc = r.keeper();
    const { instanceId } = await startSession(r);
    await lc.applyEvents();
    await lc.reconcile(now());
    await lc.reconcile(now());
    await r.chain.emit("SessionEnded", [instanceId, AGENT, AGENT, TREASURY, 0n, 5_000_000n]);
    await lc.applyEvents();
    await lc.applyEvents();
    await lc.reconcile(now());
    await lc.reconcile(now());
    expect(r.spheron.callsOf("provision")).to.have.length(1);
    expect(r.spheron.callsOf("terminate")).to.have.length(1);
    expect(transitions(r.store, instanceId)).to.deep.equal([
      "none>requested",
      "requested>provisioning",
      "provisioning>running",
      "running>ending",
      "ending>ended",
    ]);
    expect((await queued(r.store)).map((a) => a.idempotency_key)).to.deep.equal([
      `outcome:${instanceId}:provisioning`,
      `outcome:${instanceId}:running`,
    ]);
  });

  it("a restart resumes a session left in provisioning with one more call, on the same workload", async () => {
    const first = r.keeper();
    const { instanceId } = await startSession(r);
    await first.applyEvents();
    r.spheron.provisionBehaviour = "hang";

    // The first keeper calls the provider, which starts the workload but never answers: the keeper
    // "dies" there. Its pass is left pending (nothing in it will write again until it is released).
    const dying = first.reconcile(now());
    while (r.spheron.callsOf("provision").length === 0) await new Promise((resolve) => setImmediate(resolve));
    const left = (await r.store.sessions.get(instanceId))!;
    expect(left.state).to.equal("provisioning");
    expect(r.spheron.workloads.size).to.equal(1);
    expect(await outcomes(r.store)).to.have.length(1); // Provisioning only

    // A new keeper on the same database, the provider now answering.
    r.spheron.provisionBehaviour = "ok";
    const second = r.keeper();
    await second.reconcile(now());
    await second.reconcile(now());

    const s = (await r.store.sessions.get(instanceId))!;
    expect(s.state).to.equal("running");
    expect(s.workload_ref).to.equal("spheron-w1"); // the workload the first keeper started
    expect(r.spheron.callsOf("provision").map((c) => c.key)).to.deep.equal([left.workload_key, left.workload_key]);
    expect(r.spheron.workloads.size).to.equal(1);
    expect(r.akash.calls.filter((c) => c.method !== "quote")).to.deep.equal([]);
    expect(r.local.calls.filter((c) => c.method !== "quote")).to.deep.equal([]);
    // The same attempt continued (not a new one), and each outcome queued once.
    expect((await r.store.provisionAttempts.all()).map((a) => `${a.seq}:${a.provider}:${a.state}:${a.tries}`)).to.deep.equal([
      "1:spheron:running:2",
    ]);
    expect((await outcomes(r.store)).map((o) => [o.outcome, o.ref])).to.deep.equal([
      [OUTCOME.Provisioning, "spheron:provisioning"],
      [OUTCOME.Running, "spheron:spheron-w1"],
    ]);
    expect(transitions(r.store, instanceId)).to.deep.equal(["none>requested", "requested>provisioning", "provisioning>running"]);

    // Let the dead keeper's pending call end (its late error must not undo the resumed session).
    r.spheron.releaseHung("the first keeper's process is gone");
    await dying;
    expect(await stateOf(r.store, instanceId)).to.equal("running");
  });
});
