/**
 * ComputeProvider on the Akash network.
 *
 *   provision: SDL from the workload (validated, manifest + version hash) -> client certificate
 *   (created and published once, kept in SQLite) -> MsgCreateDeployment with a deposit -> bids
 *   collected for a bounded window, cheapest acceptable chosen -> MsgCreateLease -> manifest PUT to
 *   the provider over mTLS -> lease status polled until every service has a ready replica.
 *   status:    lease still active on chain + the provider's lease status; tops up escrow when due.
 *   extend:    new paid end; escrow topped up for it (24 h look-ahead + runway).
 *   terminate: MsgCloseDeployment (the unspent escrow returns to the operator).
 *
 * Crash safety: the deployment's dseq is derived from the session key (and an attempt counter), the
 * record is written to SQLite before every chain step, and each step first looks at the chain for its
 * own result (deployment exists, lease exists, certificate exists) before broadcasting, so a restart
 * resumes exactly where it stopped and never creates a second deployment for a session.
 *
 * Failing fast: every step shares one deadline (AKASH_PROVISION_DEADLINE_MS), every request has its
 * own timeout, and each failure is a ProvisionError whose code names it: AKASH_NO_BIDS,
 * AKASH_LEASE_CLOSED, AKASH_API_TIMEOUT, AKASH_PROVIDER_TIMEOUT, AKASH_MANIFEST_REJECTED, ...
 * A failed deployment is closed (escrow back) before the error is raised, so failover to the next
 * provider starts clean.
 */
import crypto from "node:crypto";
import Long from "long";
import type { Logger } from "pino";
import type { ComputeProvider, Provision, ProvisionRequest, Quote, WorkloadSpec, WorkloadStatus } from "../provider";
import { ProvisionError } from "../provider";
import { buildSdl, type AkashWorkload, type BuiltSdl } from "./sdl";
import { chooseBid, type BidView, type ProviderView } from "./bids";
import { topUpAmount } from "./escrow";
import type { AkashRepo, DeploymentRecord } from "../../store/akash";
import { connectChain, type ChainClient, type ChainClientOptions } from "./chainClient";
import { ProviderApi, pemToDer } from "./providerApi";
import { chainSdk } from "./sdk";
import { KeeperError, sleep } from "../../errors";

export interface AkashProviderOptions {
  chain: ChainClientOptions;
  depositUakt: number;
  bidWindowMs: number;
  maxPricePerBlock: number;
  requiredAttributes: Record<string, string>;
  auditors: string[];
  lookaheadS: number;
  runwayS: number;
  blockTimeS: number;
  requestTimeoutMs: number;
  provisionDeadlineMs: number;
  usdcPerAkt: number;
  /** How often bids, tx inclusion and lease status are polled. Default 1000 ms. */
  pollMs?: number;
  /** Minimum time between escrow checks of one deployment from status(). Default 60 s. */
  topUpCheckMs?: number;
}

export class AkashProvisionError extends ProvisionError {
  constructor(
    readonly code: string,
    detail: string,
    retryable: boolean,
  ) {
    super(detail.startsWith(code) ? detail : `${code}: ${detail}`, retryable);
    this.name = "AkashProvisionError";
  }
}

const long = (dseq: string) => Long.fromString(dseq, true);

/** Deterministic dseq for a session key and attempt: a restart finds the same deployment. */
export function dseqFor(key: string, attempt: number): string {
  const h = crypto.createHash("sha256").update(`agentcompute:${key}:${attempt}`).digest();
  // 47 bits: a safe integer, and far from the block heights the Console uses as dseq.
  return (BigInt("0x" + h.subarray(0, 6).toString("hex")) / 2n + 1n).toString();
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; message?: string };
  return e?.code === 5 || /not found/i.test(e?.message ?? "");
}

/** Any error from a step -> a ProvisionError with a code and a retry decision. */
function classify(err: unknown): AkashProvisionError {
  if (err instanceof AkashProvisionError) return err;
  if (err instanceof ProvisionError) return new AkashProvisionError("AKASH_SDL_INVALID", err.message, err.retryable);
  // Our own typed errors (ChainError, ProviderApiError, TimeoutError, ...) carry their code and retry decision.
  if (err instanceof KeeperError) return new AkashProvisionError(err.code, err.message, err.retryable);
  // Anything else came from the chain SDK's query transport, which only says what happened in words.
  const e = err as Error & { code?: number };
  const msg = e?.message ?? String(err);
  if (/deadline|timeout|timed out|aborted/i.test(msg) || e?.name === "TimeoutError")
    return new AkashProvisionError("AKASH_API_TIMEOUT", msg, true);
  return new AkashProvisionError("AKASH_API_ERROR", msg.slice(0, 300), true);
}

export class AkashProvider implements ComputeProvider {
  readonly name = "akash";
  private client?: Promise<ChainClient>;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly lastTopUpCheck = new Map<string, number>();

  constructor(
    private readonly opts: AkashProviderOptions,
    private readonly store: AkashRepo,
    private readonly log: Logger,
  ) {}

  private get pollMs(): number {
    return this.opts.pollMs ?? 1_000;
  }

  /** Connected lazily: the mnemonic is turned into a wallet on first use. */
  chain(): Promise<ChainClient> {
    this.client ??= connectChain(this.opts.chain).catch((err) => {
      this.client = undefined;
      throw err;
    });
    return this.client;
  }

  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    this.locks.set(
      key,
      run.catch(() => undefined),
    );
    return run;
  }

  // ------------------------------------------------------------------ quote / health

  async quote(spec: WorkloadSpec, hours: number): Promise<Quote> {
    // The ceiling the SDL will carry, converted: uakt/block -> AKT/hour -> USDC base units/hour.
    void spec;
    void hours;
    const blocksPerHour = 3600 / this.opts.blockTimeS;
    const uaktPerHour = this.opts.maxPricePerBlock * blocksPerHour;
    const pricePerHour = BigInt(Math.ceil((uaktPerHour * this.opts.usdcPerAkt) / 1_000_000));
    const h = await this.health();
    return { pricePerHour, available: h.ok };
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    try {
      const c = await this.chain();
      await c.tx.account();
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: (err as Error).message.slice(0, 200) };
    }
  }

  // ------------------------------------------------------------------ provision

  provision(req: ProvisionRequest): Promise<Provision> {
    return this.locked(req.idempotencyKey, () => this.provisionLocked(req));
  }

  private async provisionLocked(req: ProvisionRequest): Promise<Provision> {
    const deadline = Date.now() + this.opts.provisionDeadlineMs;
    const built = await buildSdl(req.spec as AkashWorkload, this.opts.maxPricePerBlock, this.opts.requiredAttributes, this.opts.auditors);
    const c = await this.chain().catch((err) => {
      throw classify(err);
    });
    const hashHex = Buffer.from(built.hash).toString("hex");
    let rec = await this.store.deployment(req.idempotencyKey);
    let created = true;
    if (!rec) {
      rec = await this.store.insertDeployment({
        workload_key: req.idempotencyKey,
        owner: c.address,
        dseq: dseqFor(req.idempotencyKey, 0),
        attempt: 0,
        ends_at: req.endsAt,
        manifest_hash: hashHex,
      });
    } else if (rec.state === "running") {
      return { ref: this.ref(rec), created: false };
    } else if (rec.state === "failed" || rec.state === "closed") {
      const attempt = rec.attempt + 1;
      rec = await this.store.restartDeployment(req.idempotencyKey, dseqFor(req.idempotencyKey, attempt), attempt, hashHex);
    } else {
      created = false;
      if (rec.manifest_hash !== hashHex) rec = await this.store.updateDeployment(req.idempotencyKey, { manifest_hash: hashHex });
    }
    try {
      // A record that says 'creating' may be a lost one: the chain tells whether the deployment exists.
      if (created && rec.state === "creating" && (await this.getDeployment(c, rec.dseq))) created = false;
      rec = await this.drive(c, rec, built, deadline);
      return { ref: this.ref(rec), created };
    } catch (err) {
      const e = classify(err);
      this.log.warn({ key: req.idempotencyKey, dseq: rec.dseq, code: e.code, retryable: e.retryable }, "akash provisioning failed");
      const cur = (await this.store.deployment(req.idempotencyKey))!;
      // Transient API trouble before anything was leased: keep the record, a retry resumes it.
      // Anything else: close the deployment so the escrow comes back and failover starts clean.
      const resumable = e.retryable && e.code !== "AKASH_LEASE_CLOSED" && e.code !== "AKASH_PROVISION_DEADLINE";
      if (!resumable) {
        await this.close(c, cur).catch((closeErr) =>
          this.log.warn({ key: req.idempotencyKey, err: (closeErr as Error).message }, "akash close after failure failed"),
        );
        await this.store.updateDeployment(req.idempotencyKey, { state: "failed", last_error: e.message.slice(0, 500) });
      } else await this.store.updateDeployment(req.idempotencyKey, { last_error: e.message.slice(0, 500) });
      throw e;
    }
  }

  private ref(r: DeploymentRecord): string {
    return `${r.owner}/${r.dseq}/${r.gseq ?? 0}/${r.oseq ?? 0}@${r.provider ?? ""}`;
  }

  private checkDeadline(deadline: number, step: string): void {
    if (Date.now() > deadline)
      throw new AkashProvisionError(
        "AKASH_PROVISION_DEADLINE",
        `provisioning did not finish within ${this.opts.provisionDeadlineMs} ms (at ${step})`,
        true,
      );
  }

  /** Runs the deployment's state machine from wherever it stands to 'running'. */
  private async drive(c: ChainClient, rec: DeploymentRecord, built: BuiltSdl, deadline: number): Promise<DeploymentRecord> {
    const key = rec.workload_key;
    const identity = await this.ensureCertificate(c);
    for (;;) {
      this.checkDeadline(deadline, rec.state);
      switch (rec.state) {
        case "creating": {
          const existing = await this.getDeployment(c, rec.dseq);
          if (!existing) {
            this.log.info({ key, dseq: rec.dseq }, "akash: creating deployment");
            await c.sdk.akash.deployment.v1beta4
              .createDeployment(
                {
                  id: { owner: c.address, dseq: long(rec.dseq) },
                  groups: built.groups as never,
                  hash: built.hash,
                  deposit: { amount: { denom: "uakt", amount: String(this.opts.depositUakt) }, sources: [1 /* balance */] },
                },
                { memo: `agentcompute:${crypto.createHash("sha256").update(key).digest("hex").slice(0, 16)}` } as never,
              )
              .catch(async (err) => {
                // An earlier copy of this tx (sent before a timeout) may be the one that landed.
                if ((await this.getDeployment(c, rec.dseq))?.state !== "active") throw err;
              });
            rec = await this.store.updateDeployment(key, { state: "bidding", deposited: String(this.opts.depositUakt) });
          } else if (existing.state !== "active") {
            throw new AkashProvisionError("AKASH_DEPLOYMENT_CLOSED", `deployment ${rec.dseq} is closed on chain`, true);
          } else {
            rec = await this.store.updateDeployment(key, { state: "bidding" });
          }
          break;
        }
        case "bidding": {
          // A crash after MsgCreateLease: the lease is on chain already, do not bid again.
          const existing = await this.findLease(c, rec.dseq);
          if (existing) {
            rec = await this.store.updateDeployment(key, {
              state: "leasing",
              provider: existing.provider,
              gseq: existing.gseq,
              oseq: existing.oseq,
              price: String(existing.price),
            });
            break;
          }
          const bid = await this.collectBids(c, rec, deadline);
          rec = await this.store.updateDeployment(key, {
            state: "leasing",
            provider: bid.provider,
            gseq: bid.gseq,
            oseq: bid.oseq,
            bseq: bid.bseq,
            price: String(bid.price),
          });
          break;
        }
        case "leasing": {
          const lease = await this.findLease(c, rec.dseq);
          if (!lease) {
            this.log.info({ key, dseq: rec.dseq, provider: rec.provider, price: rec.price }, "akash: creating lease");
            await c.sdk.akash.market.v1beta5
              .createLease({
                bidId: {
                  owner: c.address,
                  dseq: long(rec.dseq),
                  gseq: rec.gseq!,
                  oseq: rec.oseq!,
                  provider: rec.provider!,
                  bseq: rec.bseq ?? 0,
                },
              })
              .catch(async (err) => {
                if ((await this.findLease(c, rec.dseq))?.state !== "active") throw err;
              });
          } else if (lease.state !== "active") {
            throw new AkashProvisionError("AKASH_LEASE_CLOSED", `lease ${rec.dseq} with ${lease.provider} is ${lease.state}`, true);
          }
          const l = lease ?? (await this.findLease(c, rec.dseq));
          if (!l) throw new AkashProvisionError("AKASH_API_ERROR", "lease not found after MsgCreateLease", true);
          const p = await c.sdk.akash.provider.v1beta4.getProvider({ owner: l.provider });
          rec = await this.store.updateDeployment(key, {
            state: "sending_manifest",
            provider: l.provider,
            gseq: l.gseq,
            oseq: l.oseq,
            price: String(l.price),
            host_uri: p.provider?.hostUri ?? null,
          });
          break;
        }
        case "sending_manifest": {
          const api = await this.providerApi(c, rec, identity);
          await this.assertLeaseActive(c, rec);
          this.log.info({ key, dseq: rec.dseq, provider: rec.provider }, "akash: sending manifest");
          await api.sendManifest(rec.dseq, built.manifestJson);
          rec = await this.store.updateDeployment(key, { state: "starting" });
          break;
        }
        case "starting": {
          const api = await this.providerApi(c, rec, identity);
          for (;;) {
            this.checkDeadline(deadline, "starting");
            await this.assertLeaseActive(c, rec);
            const st = await api.leaseStatus(rec.dseq, rec.gseq!, rec.oseq!);
            const services = Object.values(st?.services ?? {});
            if (services.length > 0 && services.every((s) => (s.available_replicas ?? s.available) >= 1)) break;
            await sleep(this.pollMs);
          }
          rec = await this.store.updateDeployment(key, { state: "running", last_error: null });
          this.log.info({ key, dseq: rec.dseq, provider: rec.provider }, "akash: workload running");
          break;
        }
        case "running":
          return rec;
        default:
          throw new AkashProvisionError("AKASH_STATE", `deployment record in state ${rec.state}`, false);
      }
    }
  }

  private async collectBids(c: ChainClient, rec: DeploymentRecord, deadline: number): Promise<BidView> {
    const windowEnd = Math.min(Date.now() + this.opts.bidWindowMs, deadline);
    const providers = new Map<string, ProviderView>();
    let seen: BidView[];
    // Collect for the whole window: the first bid is rarely the cheapest.
    for (;;) {
      const res = await c.sdk.akash.market.v1beta5.getBids({ filters: { owner: c.address, dseq: long(rec.dseq), state: "open" } });
      seen = res.bids
        .map((b) => b.bid!)
        .filter((b) => b && b.id)
        .map((b) => ({
          provider: b.id!.provider,
          gseq: b.id!.gseq,
          oseq: b.id!.oseq,
          bseq: b.id!.bseq,
          price: Number(b.price?.amount ?? "Infinity"),
          createdAt: Number(b.createdAt),
        }));
      if (Date.now() >= windowEnd) break;
      await sleep(Math.min(this.pollMs, Math.max(0, windowEnd - Date.now())));
    }
    for (const b of seen) {
      if (providers.has(b.provider)) continue;
      providers.set(b.provider, await this.providerView(c, b.provider));
    }
    const { bid, rejected } = chooseBid(seen, providers, {
      maxPricePerBlock: this.opts.maxPricePerBlock,
      requiredAttributes: this.opts.requiredAttributes,
      auditors: this.opts.auditors,
    });
    if (!bid) {
      const why =
        seen.length === 0
          ? `no bids within ${this.opts.bidWindowMs} ms`
          : `${seen.length} bid(s), none acceptable (${rejected.map((r) => r.reason).join(", ")})`;
      throw new AkashProvisionError("AKASH_NO_BIDS", why, false);
    }
    this.log.info({ dseq: rec.dseq, bids: seen.length, provider: bid.provider, price: bid.price }, "akash: bid chosen");
    return bid;
  }

  private async providerView(c: ChainClient, owner: string): Promise<ProviderView> {
    const p = await c.sdk.akash.provider.v1beta4.getProvider({ owner }).catch((err) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    const attributes = Object.fromEntries((p?.provider?.attributes ?? []).map((a) => [a.key, a.value]));
    let auditedBy: string[] = [];
    if (this.opts.auditors.length) {
      const a = await c.sdk.akash.audit.v1.getProviderAttributes({ owner });
      auditedBy = a.providers.map((x) => x.auditor);
    }
    return { attributes, auditedBy };
  }

  private async getDeployment(c: ChainClient, dseq: string): Promise<{ state: "active" | "closed"; escrow: number } | undefined> {
    try {
      const r = await c.sdk.akash.deployment.v1beta4.getDeployment({ id: { owner: c.address, dseq: long(dseq) } });
      const funds = r.escrowAccount?.state?.funds?.find((f) => f.denom === "uakt");
      return { state: r.deployment?.state === 1 ? "active" : "closed", escrow: Number(funds?.amount ?? 0) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async findLease(
    c: ChainClient,
    dseq: string,
  ): Promise<{ provider: string; gseq: number; oseq: number; price: number; state: "active" | "closed" } | undefined> {
    const r = await c.sdk.akash.market.v1beta5.getLeases({ filters: { owner: c.address, dseq: long(dseq) } });
    const leases = r.leases.map((x) => x.lease!).filter(Boolean);
    const l = leases.find((x) => x.state === 1) ?? leases[leases.length - 1];
    if (!l) return undefined;
    return {
      provider: l.id!.provider,
      gseq: l.id!.gseq,
      oseq: l.id!.oseq,
      price: Number(l.price?.amount ?? 0),
      state: l.state === 1 ? "active" : "closed",
    };
  }

  private async assertLeaseActive(c: ChainClient, rec: DeploymentRecord): Promise<void> {
    const l = await this.findLease(c, rec.dseq);
    if (!l || l.state !== "active")
      throw new AkashProvisionError("AKASH_LEASE_CLOSED", `lease ${rec.dseq} with ${rec.provider} was closed`, true);
  }

  private async providerApi(c: ChainClient, rec: DeploymentRecord, identity: { certPem: string; keyPem: string }): Promise<ProviderApi> {
    if (!rec.host_uri) throw new AkashProvisionError("AKASH_PROVIDER_UNREACHABLE", `provider ${rec.provider} has no host URI`, true);
    const certs = await c.sdk.akash.cert.v1.getCertificates({ filter: { owner: rec.provider!, state: "valid" } });
    const trusted = certs.certificates.flatMap((x) => {
      try {
        return [pemToDer(Buffer.from(x.certificate!.cert).toString())];
      } catch {
        return [];
      }
    });
    return new ProviderApi(rec.host_uri, identity, trusted, this.opts.requestTimeoutMs);
  }

  private certInFlight?: Promise<{ certPem: string; keyPem: string }>;

  /** The keeper's mTLS client certificate: generated once, published once, then reused. Single-flight:
   * sessions provisioned at the same time share one publication. */
  ensureCertificate(c: ChainClient): Promise<{ certPem: string; keyPem: string }> {
    this.certInFlight ??= this.ensureCertificateOnce(c).finally(() => {
      this.certInFlight = undefined;
    });
    return this.certInFlight;
  }

  private async ensureCertificateOnce(c: ChainClient): Promise<{ certPem: string; keyPem: string }> {
    let cert = await this.store.certificate(c.address);
    if (!cert) {
      const pem = await chainSdk.certificateManager.generatePEM(c.address);
      cert = await this.store.saveCertificate({ owner: c.address, cert_pem: pem.cert, pubkey_pem: pem.publicKey, key_pem: pem.privateKey });
    }
    if (!cert.published) {
      // A crash after the broadcast: the certificate is already on chain, do not publish it twice.
      const onChain = await c.sdk.akash.cert.v1.getCertificates({ filter: { owner: c.address, state: "valid" } });
      const mine = onChain.certificates.some((x) => Buffer.from(x.certificate!.cert).toString() === cert!.cert_pem);
      if (!mine) {
        this.log.info({ owner: c.address }, "akash: publishing client certificate");
        await c.sdk.akash.cert.v1.createCertificate({
          owner: c.address,
          cert: Buffer.from(cert.cert_pem),
          pubkey: Buffer.from(cert.pubkey_pem),
        });
      }
      await this.store.markCertificatePublished(c.address);
    }
    return { certPem: cert.cert_pem, keyPem: cert.key_pem };
  }

  // ------------------------------------------------------------------ status / extend / terminate

  status(idempotencyKey: string): Promise<WorkloadStatus> {
    return this.locked(idempotencyKey, () => this.statusLocked(idempotencyKey));
  }

  private async statusLocked(key: string): Promise<WorkloadStatus> {
    const rec = await this.store.deployment(key);
    if (!rec) return { state: "unknown", ref: "" };
    const ref = this.ref(rec);
    if (rec.state === "closed" || rec.state === "closing") return { state: "exited", ref };
    if (rec.state === "failed") return { state: "failed", ref, detail: rec.last_error ?? undefined };
    if (rec.state !== "running") return { state: "starting", ref };
    const c = await this.chain();
    const lease = await this.findLease(c, rec.dseq);
    if (!lease || lease.state !== "active") {
      await this.store.updateDeployment(key, { last_error: "AKASH_LEASE_CLOSED: the provider closed the lease" });
      return { state: "failed", ref, detail: "AKASH_LEASE_CLOSED: the provider closed the lease" };
    }
    const last = this.lastTopUpCheck.get(key) ?? 0;
    if (Date.now() - last >= (this.opts.topUpCheckMs ?? 60_000)) {
      this.lastTopUpCheck.set(key, Date.now());
      await this.topUp(c, rec).catch((err) => this.log.warn({ key, err: (err as Error).message }, "akash escrow top-up failed"));
    }
    return { state: "running", ref };
  }

  async extend(idempotencyKey: string, endsAt: number): Promise<void> {
    await this.locked(idempotencyKey, async () => {
      const rec = await this.store.deployment(idempotencyKey);
      if (!rec) throw new ProvisionError(`AKASH_UNKNOWN_WORKLOAD: no deployment for ${idempotencyKey}`, false);
      const updated = await this.store.updateDeployment(idempotencyKey, { ends_at: endsAt });
      if (updated.state === "running") await this.topUp(await this.chain(), updated);
    });
  }

  /** Deposits into the deployment's escrow when the look-ahead says it would run dry. Returns uakt deposited. */
  async topUp(c: ChainClient, rec: DeploymentRecord): Promise<number> {
    const d = await this.getDeployment(c, rec.dseq);
    if (!d || d.state !== "active" || !rec.price) return 0;
    const amount = topUpAmount({
      balance: d.escrow,
      ratePerBlock: Number(rec.price),
      blockTimeS: this.opts.blockTimeS,
      lookaheadS: this.opts.lookaheadS,
      runwayS: this.opts.runwayS,
      remainingS: rec.ends_at - Math.floor(Date.now() / 1000),
    });
    if (amount <= 0) return 0;
    this.log.info({ key: rec.workload_key, dseq: rec.dseq, escrow: d.escrow, amount }, "akash: escrow top-up");
    await c.sdk.akash.escrow.v1.accountDeposit({
      signer: c.address,
      id: { scope: 1 /* deployment */, xid: `${c.address}/${rec.dseq}` },
      deposit: { amount: { denom: "uakt", amount: String(amount) }, sources: [1 /* balance */] },
    });
    await this.store.addDeposit(rec.workload_key, amount);
    return amount;
  }

  terminate(idempotencyKey: string): Promise<void> {
    return this.locked(idempotencyKey, async () => {
      const rec = await this.store.deployment(idempotencyKey);
      if (!rec || rec.state === "closed") return;
      const c = await this.chain();
      await this.close(c, rec);
      await this.store.updateDeployment(idempotencyKey, { state: rec.state === "failed" ? "failed" : "closed" });
    });
  }

  private async close(c: ChainClient, rec: DeploymentRecord): Promise<void> {
    const d = await this.getDeployment(c, rec.dseq);
    if (!d || d.state !== "active") return;
    if (rec.state !== "failed") await this.store.updateDeployment(rec.workload_key, { state: "closing" });
    this.log.info({ key: rec.workload_key, dseq: rec.dseq }, "akash: closing deployment");
    await c.sdk.akash.deployment.v1beta4.closeDeployment({ id: { owner: c.address, dseq: long(rec.dseq) } });
  }
}
