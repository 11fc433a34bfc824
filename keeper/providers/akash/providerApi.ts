/**
 * The Akash provider gateway (akash-provider's REST API) over mutual TLS:
 *   PUT /deployment/{dseq}/manifest, GET /lease/{dseq}/{gseq}/{oseq}/status.
 * The keeper presents its client certificate (the one published on chain). Provider certificates are
 * self-signed, so the web PKI cannot vouch for them; instead the server's certificate must be one the
 * provider published on chain (compared byte for byte), which is how Akash clients authenticate
 * providers. Every request has a deadline.
 */
import https from "node:https";
import { X509Certificate } from "node:crypto";
import type { TLSSocket } from "node:tls";
import { ProviderError } from "../../errors";

type ProviderApiCode =
  "AKASH_PROVIDER_TIMEOUT" | "AKASH_PROVIDER_UNREACHABLE" | "AKASH_PROVIDER_UNTRUSTED" | "AKASH_MANIFEST_REJECTED" | "AKASH_PROVIDER_ERROR";

/** A manifest the provider refused, or a provider we cannot trust, fails the same way next time. */
const PERMANENT: readonly ProviderApiCode[] = ["AKASH_MANIFEST_REJECTED", "AKASH_PROVIDER_UNTRUSTED"];

export class ProviderApiError extends ProviderError {
  constructor(
    message: string,
    override readonly code: ProviderApiCode,
    readonly status?: number,
  ) {
    super(message, code, !PERMANENT.includes(code));
  }
}

export interface ClientIdentity {
  certPem: string;
  keyPem: string;
}

export interface LeaseStatus {
  services: Record<
    string,
    { name: string; available: number; total: number; ready_replicas?: number; available_replicas?: number; uris?: string[] }
  >;
  forwarded_ports?: Record<string, { host: string; port: number; externalPort: number; proto: string; name: string }[]>;
}

/** DER bytes of each PEM certificate. */
export function pemToDer(pem: string): Buffer {
  return new X509Certificate(pem).raw;
}

export class ProviderApi {
  constructor(
    private readonly hostUri: string,
    private readonly identity: ClientIdentity,
    /** The provider's certificates on chain (DER); the server must present one of them. */
    private readonly trusted: Buffer[],
    private readonly timeoutMs: number,
  ) {
    const u = new URL(hostUri);
    if (u.protocol !== "https:") throw new ProviderApiError(`provider host ${hostUri} is not https`, "AKASH_PROVIDER_UNTRUSTED");
  }

  private request(method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
    const url = new URL(path, this.hostUri);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          key: this.identity.keyPem,
          cert: this.identity.certPem,
          // Self-signed provider certs: checked against the chain below instead of a CA.
          rejectUnauthorized: false,
          headers: body !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {},
          timeout: this.timeoutMs,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString().slice(0, 1_000_000) }));
          res.on("error", reject);
        },
      );
      const timer = setTimeout(
        () =>
          req.destroy(
            new ProviderApiError(
              `AKASH_PROVIDER_TIMEOUT: ${method} ${url.pathname} took longer than ${this.timeoutMs} ms`,
              "AKASH_PROVIDER_TIMEOUT",
            ),
          ),
        this.timeoutMs,
      );
      req.on("close", () => clearTimeout(timer));
      req.on("timeout", () =>
        req.destroy(
          new ProviderApiError(
            `AKASH_PROVIDER_TIMEOUT: ${method} ${url.pathname} took longer than ${this.timeoutMs} ms`,
            "AKASH_PROVIDER_TIMEOUT",
          ),
        ),
      );
      req.on("secureConnect", () => undefined);
      req.on("socket", (sock) => {
        sock.once("secureConnect", () => {
          const peer = (sock as TLSSocket).getPeerCertificate();
          if (!peer?.raw || !this.trusted.some((t) => t.equals(peer.raw))) {
            req.destroy(
              new ProviderApiError(
                `AKASH_PROVIDER_UNTRUSTED: ${this.hostUri} presented a certificate the provider has not published on chain`,
                "AKASH_PROVIDER_UNTRUSTED",
              ),
            );
          } else if (body !== undefined) {
            req.end(body);
          } else req.end();
        });
      });
      req.on("error", (err) => {
        if (err instanceof ProviderApiError) reject(err);
        else reject(new ProviderApiError(`AKASH_PROVIDER_UNREACHABLE: ${err.message}`, "AKASH_PROVIDER_UNREACHABLE"));
      });
    });
  }

  async sendManifest(dseq: string, manifestJson: string): Promise<void> {
    const r = await this.request("PUT", `/deployment/${dseq}/manifest`, manifestJson);
    if (r.status === 200 || r.status === 204) return;
    if (r.status === 400 || r.status === 422)
      throw new ProviderApiError(`AKASH_MANIFEST_REJECTED: ${r.text.slice(0, 200)}`, "AKASH_MANIFEST_REJECTED", r.status);
    throw new ProviderApiError(
      `AKASH_PROVIDER_ERROR: manifest HTTP ${r.status}: ${r.text.slice(0, 200)}`,
      "AKASH_PROVIDER_ERROR",
      r.status,
    );
  }

  async leaseStatus(dseq: string, gseq: number, oseq: number): Promise<LeaseStatus | undefined> {
    const r = await this.request("GET", `/lease/${dseq}/${gseq}/${oseq}/status`);
    if (r.status === 404) return undefined;
    if (r.status !== 200)
      throw new ProviderApiError(
        `AKASH_PROVIDER_ERROR: status HTTP ${r.status}: ${r.text.slice(0, 200)}`,
        "AKASH_PROVIDER_ERROR",
        r.status,
      );
    try {
      return JSON.parse(r.text) as LeaseStatus;
    } catch {
      throw new ProviderApiError("AKASH_PROVIDER_ERROR: status is not JSON", "AKASH_PROVIDER_ERROR", r.status);
    }
  }
}
