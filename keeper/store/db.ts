/**
 * The keeper's durable state: one SQLite file (better-sqlite3, WAL). Everything the keeper knows and
 * has promised lives here, written in transactions, so a `kill -9` at any line leaves either the old
 * state or the new one, and a restart carries on from it.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export type DB = Database.Database;

/** Ordered schema migrations; the index + 1 is the schema version. Never edit one that shipped. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  -- Blocks whose logs have been ingested, kept for a window to detect reorgs by hash.
  CREATE TABLE blocks (
    number INTEGER PRIMARY KEY,
    hash   TEXT NOT NULL
  );

  -- Every contract log ingested, deduplicated on (tx_hash, log_index).
  CREATE TABLE events (
    tx_hash      TEXT NOT NULL,
    log_index    INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    block_hash   TEXT NOT NULL,
    name         TEXT NOT NULL,
    instance_id  TEXT,
    args         TEXT NOT NULL,            -- JSON, bigints as decimal strings
    -- new: to apply; applied: the lifecycle has applied it; orphaned: its block left the chain;
    -- dropped: orphaned for good and compensated by the lifecycle.
    status       TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'applied', 'orphaned', 'dropped')),
    applied_at   INTEGER,
    ingested_at  INTEGER NOT NULL,
    PRIMARY KEY (tx_hash, log_index)
  );
  CREATE INDEX events_pending ON events (status, block_number, log_index);
  CREATE INDEX events_instance ON events (instance_id);

  -- Session state machine (see sessions/lifecycle.ts).
  CREATE TABLE sessions (
    instance_id   TEXT PRIMARY KEY,
    agent         TEXT NOT NULL,
    provider_id   INTEGER NOT NULL,
    provider      TEXT,                    -- where it runs (docker, process, akash, ...)
    state         TEXT NOT NULL CHECK (state IN
                    ('requested', 'provisioning', 'running', 'renewing', 'ending', 'ended', 'failed', 'refunded')),
    duration      INTEGER NOT NULL,        -- seconds paid, including extensions
    deposited     TEXT NOT NULL,           -- USDC base units paid into escrow
    claimed       TEXT NOT NULL DEFAULT '0',
    refunded      TEXT NOT NULL DEFAULT '0',
    config        TEXT NOT NULL,           -- hex of the on-chain config bytes
    ends_at       INTEGER,                 -- unix seconds, from SessionActivated / SessionExtended
    ended_on_chain INTEGER NOT NULL DEFAULT 0, -- SessionEnded seen: escrow settled
    workload_stopped INTEGER NOT NULL DEFAULT 0,
    last_claim_at INTEGER,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    workload_ref  TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    started_block INTEGER NOT NULL,
    start_tx      TEXT NOT NULL,           -- the SessionStarted transaction: ids can repeat across a deep reorg
    workload_key  TEXT NOT NULL,           -- the providers' idempotency key: instance id + start transaction
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  );
  CREATE INDEX sessions_state ON sessions (state);
  CREATE INDEX sessions_agent ON sessions (agent);

  -- Workloads of sessions whose payment was reorged out of the chain: to terminate.
  CREATE TABLE orphaned_workloads (
    workload_key TEXT PRIMARY KEY,
    provider_id  INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    done         INTEGER NOT NULL DEFAULT 0
  );

  -- Every state change, for 'keeper sessions' and the audit.
  CREATE TABLE session_transitions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          INTEGER NOT NULL
  );

  -- Outbox of on-chain actions. The idempotency key makes enqueuing the same action twice a no-op,
  -- and one nonce per action means at most one of its transactions can ever be mined.
  CREATE TABLE actions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,         -- recordOutcome | claim | endSession | recordJobBatch
    instance_id     TEXT,
    calldata        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'mined', 'reverted', 'skipped')),
    nonce           INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    mined_block     INTEGER,
    error           TEXT
  );
  CREATE INDEX actions_state ON actions (state, id);
  CREATE UNIQUE INDEX actions_nonce ON actions (nonce) WHERE nonce IS NOT NULL;

  -- Each signed transaction of an action (the first, and any fee bumps), stored before broadcast.
  CREATE TABLE action_txs (
    tx_hash    TEXT PRIMARY KEY,
    action_id  INTEGER NOT NULL REFERENCES actions (id),
    raw        TEXT NOT NULL,
    max_fee    TEXT NOT NULL,
    priority   TEXT NOT NULL,
    sent_at    INTEGER NOT NULL
  );
  `,
  `
  -- Akash: the operator's mTLS client certificate, created and published on chain once, then kept.
  CREATE TABLE akash_certificates (
    owner       TEXT PRIMARY KEY,          -- akash1... address
    cert_pem    TEXT NOT NULL,
    pubkey_pem  TEXT NOT NULL,
    key_pem     TEXT NOT NULL,             -- private key of the client certificate (not the wallet key)
    published   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
  );

  -- Akash: one deployment per session key, written before each chain step so a restart resumes it.
  CREATE TABLE akash_deployments (
    workload_key TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    dseq         TEXT NOT NULL,
    attempt      INTEGER NOT NULL DEFAULT 0,
    gseq         INTEGER,
    oseq         INTEGER,
    bseq         INTEGER,
    provider     TEXT,
    host_uri     TEXT,
    price        TEXT,                     -- uakt per block of the chosen bid (decimal string)
    state        TEXT NOT NULL CHECK (state IN
                   ('creating', 'bidding', 'leasing', 'sending_manifest', 'starting', 'running', 'closing', 'closed', 'failed')),
    ends_at      INTEGER NOT NULL,
    deposited    TEXT NOT NULL DEFAULT '0', -- uakt put into escrow by this keeper (deposit + top-ups)
    manifest_hash TEXT,
    last_error   TEXT,
    updated_at   INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX akash_deployments_dseq ON akash_deployments (owner, dseq);
  `,
  `
  -- Failover: every provider a session tried, in order; the last row is the current attempt. A row is
  -- written before its provider is called, so a restart continues the same attempt.
  CREATE TABLE provision_attempts (
    instance_id    TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    provider       TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('provisioning', 'running', 'failed', 'stopped')),
    price_per_hour TEXT NOT NULL DEFAULT '0',  -- USDC base units the provider charges (its quote)
    started_at     INTEGER NOT NULL,
    deadline_at    INTEGER NOT NULL,
    running_at     INTEGER,
    stopped_at     INTEGER,
    cost           TEXT,                       -- USDC base units paid to the provider, set when stopped
    bridge_transfer_id INTEGER,                -- the transfer that paid this cost (NULL: still owed)
    error          TEXT,
    tries          INTEGER NOT NULL DEFAULT 0, -- provision calls made on this provider
    PRIMARY KEY (instance_id, seq)
  );
  CREATE INDEX provision_attempts_owed ON provision_attempts (provider, bridge_transfer_id);

  -- Circuit breaker per provider: consecutive failures, and until when it is skipped.
  CREATE TABLE provider_health (
    provider             TEXT PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    unhealthy_until      INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    updated_at           INTEGER NOT NULL
  );

  -- LI.FI transfers paying providers. The signed transaction is stored before it is broadcast.
  CREATE TABLE bridge_transfers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    provider    TEXT NOT NULL,
    amount      TEXT NOT NULL,               -- USDC base units sent
    state       TEXT NOT NULL CHECK (state IN ('pending', 'signed', 'sent', 'done', 'failed')),
    attempt     INTEGER NOT NULL DEFAULT 1,
    to_chain    TEXT NOT NULL,
    to_amount_min TEXT,
    tool        TEXT,
    tx_hash     TEXT,
    raw_tx      TEXT,
    receiving_tx TEXT,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
  );
  CREATE INDEX bridge_transfers_state ON bridge_transfers (state);

  ALTER TABLE orphaned_workloads ADD COLUMN provider TEXT;
  `,
  `
  -- WATT (keeper/payments). Amounts are base units of the mint, as decimal strings.
  -- Every verified WATT transfer into the service's token account, once: the signature is the key.
  CREATE TABLE watt_payments (
    signature   TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('job', 'deposit')),
    memo        TEXT NOT NULL,              -- the job_id, or "deposit:<agent>"
    payer       TEXT NOT NULL,              -- the transfer's authority (the agent's wallet)
    credited_to TEXT NOT NULL,              -- whose prepaid balance gets what is not charged
    amount      TEXT NOT NULL,              -- net increase of the service token account
    slot        INTEGER,
    block_time  INTEGER,
    verified_at INTEGER NOT NULL
  );
  -- One payment per job_id: a second transfer with the same memo is never a second job.
  CREATE UNIQUE INDEX watt_payments_job ON watt_payments (memo) WHERE kind = 'job';

  CREATE TABLE watt_balances (
    agent  TEXT PRIMARY KEY,
    amount TEXT NOT NULL
  );
  -- Every change of a prepaid balance, with its reason: the audit trail of the balances.
  CREATE TABLE watt_ledger (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    agent      TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('deposit', 'grant', 'charge', 'refund', 'excess')),
    amount     TEXT NOT NULL,               -- signed: charges are negative
    job_id     TEXT,
    signature  TEXT,
    note       TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX watt_ledger_agent ON watt_ledger (agent, id);

  -- Paid jobs (scrape, execute). Inserted when charged, in the same transaction as the charge.
  CREATE TABLE jobs (
    job_id       TEXT PRIMARY KEY,
    service      TEXT NOT NULL,
    request_hash TEXT NOT NULL,             -- sha256 of the canonical request: a reused job_id with another body is refused
    agent        TEXT NOT NULL,
    payment      TEXT NOT NULL CHECK (payment IN ('onchain', 'prepaid')),
    signature    TEXT UNIQUE REFERENCES watt_payments (signature),
    price        TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    charged      TEXT NOT NULL DEFAULT '0',
    refunded     TEXT NOT NULL DEFAULT '0',
    burned       TEXT NOT NULL DEFAULT '0', -- 0.15 % of charged
    http_status  INTEGER,
    response     TEXT,                      -- the answer, as sent (JSON): a retry gets the same bytes
    outcome_hash TEXT,                      -- keccak256 of response: the Merkle leaf commits to it
    batch_root   TEXT,
    leaf_index   INTEGER,
    burn_id      INTEGER,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
  );
  CREATE INDEX jobs_unbatched ON jobs (state, batch_root, finished_at);
  CREATE INDEX jobs_unburned ON jobs (burn_id) WHERE burn_id IS NULL;

  -- Merkle batches of finished jobs, recorded on chain with recordJobBatch (through the outbox).
  CREATE TABLE job_batches (
    root        TEXT PRIMARY KEY,
    job_count   INTEGER NOT NULL,
    watt_total  TEXT NOT NULL,
    tree        TEXT NOT NULL,              -- StandardMerkleTree.dump()
    action_key  TEXT NOT NULL,
    created_at  INTEGER NOT NULL
  );

  -- SPL burns of the 0.15 % share, in batches. The signed transaction is stored before it is sent.
  CREATE TABLE watt_burns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    amount      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'confirmed', 'expired')),
    signature   TEXT,
    raw_tx      TEXT,
    last_valid_height INTEGER,
    error       TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
  );

  -- Rate limits: one row per accepted job and key, sliding one-hour windows; survives restarts.
  CREATE TABLE rate_hits (
    key   TEXT NOT NULL,
    at_ms INTEGER NOT NULL
  );
  CREATE INDEX rate_hits_key ON rate_hits (key, at_ms);
  `,
  `
  -- Payments v2 (issue 10). The deposit scan's cursor through the service token account's history:
  -- the newest signature already processed (getSignaturesForAddress pages back until it).
  CREATE TABLE watt_scan_cursor (
    account        TEXT PRIMARY KEY,
    last_signature TEXT NOT NULL,
    updated_at     INTEGER NOT NULL
  );
  -- Transfers into the service account not (yet) counted: job payments waiting for their request,
  -- rejected deposits, transactions not visible yet. Re-examined once WATT_UNMATCHED_GRACE_S passed
  -- since block_time (and next_check_at): what arrived is then credited to its payer.
  CREATE TABLE watt_unsettled (
    signature     TEXT PRIMARY KEY,
    memo          TEXT,                     -- the deposit memo it carries, if any
    block_time    INTEGER,
    reason        TEXT NOT NULL,
    next_check_at INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
  );
  CREATE INDEX watt_unsettled_due ON watt_unsettled (next_check_at);
  -- Operator grants kept apart from WATT received: the part of a balance that was granted, the part
  -- of a job's charge paid from granted WATT, and the burn share of that part (owed by the operator:
  -- never burned from the service account, which did not receive it).
  ALTER TABLE watt_balances ADD COLUMN granted TEXT NOT NULL DEFAULT '0';
  ALTER TABLE jobs ADD COLUMN charged_granted TEXT NOT NULL DEFAULT '0';
  ALTER TABLE jobs ADD COLUMN burn_owed TEXT NOT NULL DEFAULT '0';
  `,
  // x402: one row per x402 payment (keeper/payments/x402), keyed by the payment itself (SVM: sha256
  // of the transaction message; EVM: the EIP-3009 nonce with token and payer), so a payment settles
  // once across requests, restarts and client timeouts. pending: settlement sent, outcome not yet
  // known (recovered from chain); settled: money moved (tx_signature); failed: it never will;
  // credited: it landed but its job never ran, so the amount went to the payer's prepaid balance.
  `
  CREATE TABLE x402_settlements (
    payment_key     TEXT PRIMARY KEY,
    rail            TEXT NOT NULL CHECK (rail IN ('svm', 'evm')),
    network         TEXT NOT NULL,
    job_id          TEXT NOT NULL UNIQUE,
    service         TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    payer           TEXT NOT NULL,
    asset           TEXT NOT NULL,
    amount          TEXT NOT NULL,              -- base units of the asset
    payload_hash    TEXT NOT NULL,              -- sha256 of the PAYMENT-SIGNATURE payload
    payment_id      TEXT,                       -- the payment-identifier extension, if sent
    state           TEXT NOT NULL CHECK (state IN ('pending', 'settled', 'failed', 'credited')),
    tx_signature    TEXT,                       -- Solana signature / EVM transaction hash, once known
    valid_until     INTEGER,                    -- EVM: validBefore (unix s)
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
  );
  CREATE INDEX x402_settlements_state ON x402_settlements (state);
  CREATE UNIQUE INDEX x402_settlements_payment_id ON x402_settlements (payment_id) WHERE payment_id IS NOT NULL;
  `,
  `
  -- auto-renewal (contracts v2, keeper/store/autoRenewal.ts): a session's renewal terms as the chain
  -- last said them (AutoRenewalSet / AutoRenewalStopped / SessionRenewed / RenewalFailed), and why the
  -- last renewal did not happen. Self-contained: no column of another table is changed.
  CREATE TABLE IF NOT EXISTS auto_renewals (
    instance_id     TEXT PRIMARY KEY,
    period          INTEGER NOT NULL,          -- seconds bought per renewal
    max_per_renewal TEXT NOT NULL,             -- USDC base units, most one renewal may cost
    budget_left     TEXT NOT NULL,             -- USDC base units still authorised
    enabled         INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    set_by          TEXT,                      -- the agent or its guardian
    renewals        INTEGER NOT NULL DEFAULT 0,
    last_renewed_at INTEGER,                   -- chain time the session was last renewed to (its new end)
    last_cost       TEXT,
    last_failure    TEXT,                      -- RenewalFailure name, or the revert that stopped a renew
    last_failure_at INTEGER,
    updated_at      INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS auto_renewals_enabled ON auto_renewals (enabled);
  `,
];

export function openDatabase(file: string): DB {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  // FULL: a transaction reported committed survives power loss, not only a process kill.
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

function migrate(db: DB): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

export function getMeta(db: DB, key: string): string | undefined {
  const row = db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
  return row?.value;
}

export function setMeta(db: DB, key: string, value: string): void {
  db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
}

/** Re-exported for the repositories, which stamp rows with it. */
export { now } from "../clock";
