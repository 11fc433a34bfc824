/** Prometheus metrics (@prometheus-io/client, formerly prom-client), served on /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "@prometheus-io/client";

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "keeper_" });
  return {
    registry,
    eventsIngested: new Counter({ name: "keeper_events_ingested_total", help: "Contract events stored", registers: [registry] }),
    lastBlock: new Gauge({ name: "keeper_last_processed_block", help: "Last block ingested", registers: [registry] }),
    lagBlocks: new Gauge({ name: "keeper_lag_blocks", help: "Chain head minus last processed block", registers: [registry] }),
    reorgs: new Counter({ name: "keeper_reorgs_total", help: "Reorgs deeper than the confirmations", registers: [registry] }),
    rpcErrors: new Counter({ name: "keeper_rpc_errors_total", help: "Loop iterations that failed on RPC", registers: [registry] }),
    transitions: new Counter({
      name: "keeper_session_transitions_total",
      help: "Session state transitions",
      labelNames: ["to"],
      registers: [registry],
    }),
    provisions: new Counter({
      name: "keeper_provision_calls_total",
      help: "Provider provision calls",
      labelNames: ["provider"],
      registers: [registry],
    }),
    actions: new Counter({
      name: "keeper_actions_settled_total",
      help: "Outbox actions settled",
      labelNames: ["kind", "state"],
      registers: [registry],
    }),
    sessions: new Gauge({ name: "keeper_sessions", help: "Sessions by state", labelNames: ["state"], registers: [registry] }),
    startToProvision: new Histogram({
      name: "keeper_start_to_provision_seconds",
      help: "From a confirmed SessionStarted being applied to the provider's provision call",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
