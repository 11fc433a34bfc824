/**
 * A simulated Akash provider's gateway: HTTPS with mutual TLS, as the real akash-provider serves it.
 *   PUT /deployment/{dseq}/manifest        the manifest for the tenant's lease with this provider
 *   GET /lease/{dseq}/{gseq}/{oseq}/status  services (replicas ready) and forwarded ports
 *
 * The client certificate is required (no certificate: 401) and must be one the tenant published on
 * chain, valid (not revoked), whose subject CN is the tenant's address (otherwise 403). A manifest
 * whose version hash (sha256 of the sorted JSON, HTML-escaped like Go's encoder) differs from the
 * deployment's on-chain hash is rejected (400 "manifest version validation failed").
 *
 * Faults: `closeLeaseAfterManifestMs` (accepts the manifest, then closes the lease on chain),
 * `slowMs` (every response delayed), `rejectManifest`, `startupMs` (time until replicas are ready).
 */
import https from "node:https";
import crypto, { X509Certificate } from "node:crypto";
import { AddressInfo } from "node:net";
import stableStringify from "json-stable-stringify";
import { chainSdk } from "../../../keeper/providers/akash/sdk";
import type { AkashChainStandin, SimProvider } from "./chain";

export interface ProviderFaults {
  closeLeaseAfterManifestMs?: number;
  slowMs: number;
  startupMs: number;
}

export class AkashProviderStandin {
  readonly faults: ProviderFaults = { slowMs: 0, startupMs: 50 };
  /** dseq -> when the manifest was accepted (ms). */
  readonly manifests = new Map<string, { at: number; manifest: unknown; owner: string }>();
  /** Requests refused, with the reason, for tests. */
  readonly refusals: string[] = [];
  private server?: https.Server;
  certPem = "";
  hostUri = "";

  constructor(
    private readonly chain: AkashChainStandin,
    readonly owner: string,
    private readonly sim: Omit<SimProvider, "owner" | "hostUri" | "certPem">,
  ) {}

  async start(): Promise<void> {
    const pem = await chainSdk.certificateManager.generatePEM(this.owner);
    this.certPem = pem.cert;
    this.server = https.createServer(
      { key: pem.privateKey, cert: pem.cert, requestCert: true, rejectUnauthorized: false, minVersion: "TLSv1.2" },
      (req, res) => {
        this.handle(req, res).catch((err) => {
          if (!res.headersSent) res.writeHead(500);
          res.end(String((err as Error).message));
        });
      },
    );
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.hostUri = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.chain.addProvider({ ...this.sim, owner: this.owner, hostUri: this.hostUri, certPem: this.certPem });
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  /** The tenant address whose on-chain certificate this TLS client presented, or a refusal. */
  private authenticate(req: import("node:http").IncomingMessage): { owner?: string; status?: number; reason?: string } {
    const sock = req.socket as import("node:tls").TLSSocket;
    const peer = sock.getPeerCertificate();
    if (!peer || !peer.raw) return { status: 401, reason: "client certificate required" };
    const x = new X509Certificate(peer.raw);
    const cn = /CN=([^\n,]+)/.exec(x.subject)?.[1];
    if (!cn) return { status: 403, reason: "certificate has no CN" };
    const now = Date.now();
    if (new Date(x.validFrom).getTime() > now || new Date(x.validTo).getTime() < now) return { status: 403, reason: "certificate expired" };
    const onChain = this.chain.certs.find(
      (c) => c.owner === cn && c.state === "valid" && new X509Certificate(Buffer.from(c.cert)).raw.equals(peer.raw),
    );
    if (!onChain) return { status: 403, reason: "certificate not published on chain for " + cn };
    return { owner: cn };
  }

  private async handle(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.faults.slowMs) await new Promise((r) => setTimeout(r, this.faults.slowMs));
    if (res.destroyed) return;
    const send = (status: number, body: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json" });
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    };
    const auth = this.authenticate(req);
    if (!auth.owner) {
      this.refusals.push(auth.reason!);
      return send(auth.status!, auth.reason!);
    }
    const owner = auth.owner;
    const url = new URL(req.url ?? "/", "https://x");
    let m: RegExpMatchArray | null;
    if (req.method === "PUT" && (m = url.pathname.match(/^\/deployment\/(\d+)\/manifest$/))) {
      const dseq = m[1];
      const lease = this.chain.leases.find(
        (l) => l.owner === owner && l.dseq === dseq && l.provider === this.owner && l.state === "active",
      );
      if (!lease) {
        this.refusals.push("no active lease");
        return send(404, "lease not found");
      }
      let manifest: unknown;
      try {
        manifest = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        return send(400, "invalid manifest JSON");
      }
      const d = this.chain.deployments.get(`${owner}/${dseq}`)!;
      const version = crypto
        .createHash("sha256")
        .update(goEscape(stableStringify(manifest) ?? ""))
        .digest();
      if (!version.equals(Buffer.from(d.hash))) {
        this.refusals.push("manifest version mismatch");
        return send(400, "manifest version validation failed");
      }
      this.manifests.set(dseq, { at: Date.now(), manifest, owner });
      const closeAfter = this.faults.closeLeaseAfterManifestMs;
      if (closeAfter !== undefined) setTimeout(() => this.chain.providerClosesLease(owner, dseq, this.owner), closeAfter);
      res.writeHead(200);
      return void res.end();
    }
    if (req.method === "GET" && (m = url.pathname.match(/^\/lease\/(\d+)\/(\d+)\/(\d+)\/status$/))) {
      const [, dseq, gseq, oseq] = m;
      const lease = this.chain.leases.find(
        (l) => l.owner === owner && l.dseq === dseq && l.gseq === Number(gseq) && l.oseq === Number(oseq) && l.provider === this.owner,
      );
      if (!lease || lease.state !== "active") return send(404, "lease not found");
      const sent = this.manifests.get(dseq);
      if (!sent) return send(404, "manifest not received");
      const ready = Date.now() - sent.at >= this.faults.startupMs ? 1 : 0;
      const services: Record<string, unknown> = {};
      const forwarded: Record<string, unknown[]> = {};
      const groups =
        (sent.manifest as { services: { name: string; expose?: { port: number; externalPort: number; proto: string }[] }[] }[]) ?? [];
      for (const g of groups)
        for (const s of g.services ?? []) {
          services[s.name] = {
            name: s.name,
            available: ready,
            total: 1,
            uris: [],
            observed_generation: 1,
            replicas: 1,
            updated_replicas: 1,
            ready_replicas: ready,
            available_replicas: ready,
          };
          forwarded[s.name] = (s.expose ?? []).map((e, i) => ({
            host: "127.0.0.1",
            port: e.port,
            externalPort: 30000 + i,
            proto: e.proto ?? "TCP",
            name: s.name,
          }));
        }
      return send(200, { services, forwarded_ports: forwarded, ips: null });
    }
    return send(404, "not found");
  }
}

/** Go's json encoder escapes <, > and & (the SDK mirrors this when hashing). */
function goEscape(s: string): string {
  return s.replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}
