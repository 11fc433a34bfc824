/**
 * The Akash provider's durable records (tables akash_certificates, akash_deployments in the keeper's
 * SQLite file). Each chain step is recorded before it is broadcast, so a restart knows which
 * deployment (owner, dseq) belongs to a session and resumes it instead of creating another.
 */
import type { DB } from "./db";
import type { Unit } from "./unit";

export type DeploymentState =
  "creating" | "bidding" | "leasing" | "sending_manifest" | "starting" | "running" | "closing" | "closed" | "failed";

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

export class AkashRepo {
  constructor(private readonly unit: Unit) {}

  deployment(key: string): Promise<DeploymentRecord | undefined> {
    return this.unit.run((db) => deploymentOf(db, key));
  }

  /** The session's first deployment, recorded (state 'creating') before anything is broadcast. */
  insertDeployment(
    r: Pick<DeploymentRecord, "workload_key" | "owner" | "dseq" | "attempt" | "ends_at" | "manifest_hash">,
  ): Promise<DeploymentRecord> {
    return this.unit.run((db) => {
      db.prepare(
        "INSERT INTO akash_deployments (workload_key, owner, dseq, attempt, state, ends_at, manifest_hash, updated_at) VALUES (?, ?, ?, ?, 'creating', ?, ?, ?)",
      ).run(r.workload_key, r.owner, r.dseq, r.attempt, r.ends_at, r.manifest_hash, nowS());
      return deploymentOf(db, r.workload_key)!;
    });
  }

  /** A fresh attempt for the same session (new dseq) after the previous deployment was closed. */
  restartDeployment(key: string, dseq: string, attempt: number, manifestHash: string): Promise<DeploymentRecord> {
    return this.unit.run((db) => {
      db.prepare(
        `UPDATE akash_deployments SET dseq = ?, attempt = ?, state = 'creating', gseq = NULL, oseq = NULL, bseq = NULL, provider = NULL, host_uri = NULL, price = NULL,
         deposited = '0', manifest_hash = ?, last_error = NULL, updated_at = ? WHERE workload_key = ?`,
      ).run(dseq, attempt, manifestHash, nowS(), key);
      return deploymentOf(db, key)!;
    });
  }

  /** Writes the given columns and returns the record as it now stands. */
  updateDeployment(key: string, patch: Partial<Omit<DeploymentRecord, "workload_key" | "updated_at">>): Promise<DeploymentRecord> {
    return this.unit.run((db) => {
      const cols = Object.keys(patch);
      // The column names come from the record's own keys (typed), never from outside input.
      if (cols.length) {
        db.prepare(
          `UPDATE akash_deployments SET ${cols.map((c) => `${c} = @${c}`).join(", ")}, updated_at = @updated_at WHERE workload_key = @workload_key`,
        ).run({
          ...patch,
          updated_at: nowS(),
          workload_key: key,
        });
      }
      return deploymentOf(db, key)!;
    });
  }

  /** uakt added to the escrow: the sum is taken from the stored figure, in the same statement batch. */
  addDeposit(key: string, uakt: number): Promise<DeploymentRecord> {
    return this.unit.run((db) =>
      db.transaction(() => {
        const cur = deploymentOf(db, key)!;
        db.prepare("UPDATE akash_deployments SET deposited = ?, updated_at = ? WHERE workload_key = ?").run(
          (BigInt(cur.deposited) + BigInt(uakt)).toString(),
          nowS(),
          key,
        );
        return deploymentOf(db, key)!;
      })(),
    );
  }

  activeDeployments(): Promise<DeploymentRecord[]> {
    return this.unit.run(
      (db) => db.prepare("SELECT * FROM akash_deployments WHERE state NOT IN ('closed', 'failed')").all() as DeploymentRecord[],
    );
  }

  certificate(owner: string): Promise<CertificateRecord | undefined> {
    return this.unit.run((db) => certificateOf(db, owner));
  }

  /** Keeps the first certificate saved for `owner` (a second one is ignored) and returns the kept one. */
  saveCertificate(c: Omit<CertificateRecord, "published">): Promise<CertificateRecord> {
    return this.unit.run((db) => {
      db.prepare(
        "INSERT INTO akash_certificates (owner, cert_pem, pubkey_pem, key_pem, published, created_at) VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (owner) DO NOTHING",
      ).run(c.owner, c.cert_pem, c.pubkey_pem, c.key_pem, nowS());
      return certificateOf(db, c.owner)!;
    });
  }

  markCertificatePublished(owner: string): Promise<void> {
    return this.unit.run((db) => {
      db.prepare("UPDATE akash_certificates SET published = 1 WHERE owner = ?").run(owner);
    });
  }
}

const deploymentOf = (db: DB, key: string) =>
  db.prepare("SELECT * FROM akash_deployments WHERE workload_key = ?").get(key) as DeploymentRecord | undefined;
const certificateOf = (db: DB, owner: string) =>
  db.prepare("SELECT * FROM akash_certificates WHERE owner = ?").get(owner) as CertificateRecord | undefined;
