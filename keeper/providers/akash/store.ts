/**
 * The Akash provider's durable records (tables akash_certificates, akash_deployments in the keeper's
 * SQLite file). Each chain step is recorded before it is broadcast, so a restart knows which
 * deployment (owner, dseq) belongs to a session and resumes it instead of creating another.
 */
import type { DB } from "../../store/db";

export type DeploymentState = "creating" | "bidding" | "leasing" | "sending_manifest" | "starting" | "running" | "closing" | "closed" | "failed";

export interface DeploymentRecord {
  workload_key: string;
  owner: string;
  dseq: string;
  attempt: number;
  gseq: number | null;
  oseq: number | null;
  bseq: number | null;
  provider: string | null;
  host_uri: string | null;
  price: string | null;
  state: DeploymentState;
  ends_at: number;
  deposited: string;
  manifest_hash: string | null;
  last_error: string | null;
  updated_at: number;
}

export interface CertificateRecord {
  owner: string;
  cert_pem: string;
  pubkey_pem: string;
  key_pem: string;
  published: number;
}

const nowS = () => Math.floor(Date.now() / 1000);

export class AkashStore {
  constructor(readonly db: DB) {}

  get(key: string): DeploymentRecord | undefined {
    return this.db.prepare("SELECT * FROM akash_deployments WHERE workload_key = ?").get(key) as DeploymentRecord | undefined;
  }

  insert(r: Pick<DeploymentRecord, "workload_key" | "owner" | "dseq" | "attempt" | "ends_at" | "manifest_hash">): DeploymentRecord {
    this.db
      .prepare("INSERT INTO akash_deployments (workload_key, owner, dseq, attempt, state, ends_at, manifest_hash, updated_at) VALUES (?, ?, ?, ?, 'creating', ?, ?, ?)")
      .run(r.workload_key, r.owner, r.dseq, r.attempt, r.ends_at, r.manifest_hash, nowS());
    return this.get(r.workload_key)!;
  }

  /** A fresh attempt for the same session (new dseq) after the previous deployment was closed. */
  restart(key: string, dseq: string, attempt: number, manifestHash: string): DeploymentRecord {
    this.db
      .prepare(
        `UPDATE akash_deployments SET dseq = ?, attempt = ?, state = 'creating', gseq = NULL, oseq = NULL, bseq = NULL, provider = NULL, host_uri = NULL, price = NULL,
         deposited = '0', manifest_hash = ?, last_error = NULL, updated_at = ? WHERE workload_key = ?`,
      )
      .run(dseq, attempt, manifestHash, nowS(), key);
    return this.get(key)!;
  }

  update(key: string, patch: Partial<Omit<DeploymentRecord, "workload_key">>): DeploymentRecord {
    const cols = Object.keys(patch);
    if (cols.length) {
      this.db
        .prepare(`UPDATE akash_deployments SET ${cols.map((c) => `${c} = @${c}`).join(", ")}, updated_at = @updated_at WHERE workload_key = @workload_key`)
        .run({ ...patch, updated_at: nowS(), workload_key: key });
    }
    return this.get(key)!;
  }

  active(): DeploymentRecord[] {
    return this.db.prepare("SELECT * FROM akash_deployments WHERE state NOT IN ('closed', 'failed')").all() as DeploymentRecord[];
  }

  certificate(owner: string): CertificateRecord | undefined {
    return this.db.prepare("SELECT * FROM akash_certificates WHERE owner = ?").get(owner) as CertificateRecord | undefined;
  }

  saveCertificate(c: Omit<CertificateRecord, "published">): void {
    this.db
      .prepare("INSERT INTO akash_certificates (owner, cert_pem, pubkey_pem, key_pem, published, created_at) VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (owner) DO NOTHING")
      .run(c.owner, c.cert_pem, c.pubkey_pem, c.key_pem, nowS());
  }

  markPublished(owner: string): void {
    this.db.prepare("UPDATE akash_certificates SET published = 1 WHERE owner = ?").run(owner);
  }
}
