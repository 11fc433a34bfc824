/**
 * io.net CaaS REST API stand-in (io.net/docs/reference/caas shapes): x-api-key auth, under
 * /enterprise/v1/io-cloud/caas: GET /price, POST /deploy, GET /deployments, GET/DELETE
 * /deployment/{id}, POST /deployment/{id}/extend. Deployments are `deployment requested`, then
 * `running` after `startReads` reads; fault switches in `faults`.
 */
import { randomUUID } from "node:crypto";
import Fastify from "fastify";
import { CloudFaults, hangUntilClosed } from "../faults";

export interface IoDeployment {
  id: string;
  resource_private_name: string;
  status: string;
  duration_hours: number;
  hardware_id: number;
  location_ids: number[];
  image_url: string;
  env_variables: Record<string, string>;
  reads: number;
  runningReads: number;
  started_at?: string;
}

const BASE = "/enterprise/v1/io-cloud/caas";

export async function startIonetStandin(opts: { apiKey: string; pricePerHour?: number; startReads?: number }) {
  const faults: CloudFaults = {};
  const closing = new AbortController();
  const deployments = new Map<string, IoDeployment>();
  const calls: { method: string; url: string; key?: string }[] = [];
  const app = Fastify({ forceCloseConnections: true });
  app.addHook("onRequest", async (req, reply) => {
    calls.push({ method: req.method, url: req.url, key: req.headers["x-api-key"] as string | undefined });
    if (faults.hang) await hangUntilClosed(closing.signal);
    if (faults.unavailable) return reply.code(503).send({ detail: "Service Unavailable" });
    if (req.headers["x-api-key"] !== opts.apiKey) return reply.code(401).send({ detail: "Invalid API key" });
  });
  const price = () => opts.pricePerHour ?? 0.4;
  const view = (d: IoDeployment) => ({
    started_at: d.started_at,
    id: d.id,
    resource_private_name: d.resource_private_name,
    status: d.status,
    hardware_id: d.hardware_id,
    duration_hours: d.duration_hours,
    brand_name: "NVIDIA",
    hardware_name: "RTX 4090",
    amount_paid: d.duration_hours * price(),
  });
  const advance = (d: IoDeployment) => {
    d.reads++;
    if (d.status === "deployment requested" && d.reads >= (opts.startReads ?? 1)) {
      d.status = faults.failDeploy ? "failed" : "running";
      if (d.status === "running") d.started_at = new Date().toISOString();
    } else if (d.status === "running") {
      d.runningReads++;
      if (faults.terminateAfterReads !== undefined && d.runningReads > faults.terminateAfterReads) d.status = "destroyed";
    }
  };
  app.get(`${BASE}/price`, async (req, reply) => {
    const q = req.query as Record<string, string>;
    for (const k of ["location_ids", "hardware_id", "duration_hours", "gpus_per_container", "replica_count"]) {
      if (q[k] === undefined) return reply.code(422).send({ detail: [{ loc: ["query", k], msg: "Field required", type: "missing" }] });
    }
    const hours = Number(q.duration_hours);
    return {
      data: {
        replica_count: Number(q.replica_count),
        gpus_per_container: Number(q.gpus_per_container),
        available_replica_count: [faults.noCapacity ? 0 : 4],
        discount: 0,
        ionet_fee: 0,
        ionet_fee_percent: 0,
        currency_conversion_fee: 0,
        currency_conversion_fee_percent: 0,
        total_cost_usdc: price() * hours,
      },
    };
  });
  app.post(`${BASE}/deploy`, async (req, reply) => {
    const b = req.body as Record<string, unknown> & {
      container_config?: Record<string, unknown>;
      registry_config?: Record<string, unknown>;
    };
    for (const k of [
      "resource_private_name",
      "duration_hours",
      "gpus_per_container",
      "hardware_id",
      "location_ids",
      "container_config",
      "registry_config",
    ]) {
      if (b?.[k] === undefined) return reply.code(422).send({ detail: [{ loc: ["body", k], msg: "Field required", type: "missing" }] });
    }
    if (faults.noCapacity) return reply.code(400).send({ detail: "No available hardware for the requested configuration" });
    const d: IoDeployment = {
      id: randomUUID(),
      resource_private_name: String(b.resource_private_name),
      status: "deployment requested",
      duration_hours: Number(b.duration_hours),
      hardware_id: Number(b.hardware_id),
      location_ids: b.location_ids as number[],
      image_url: String(b.registry_config!.image_url),
      env_variables: (b.container_config!.env_variables ?? {}) as Record<string, string>,
      reads: 0,
      runningReads: 0,
    };
    deployments.set(d.id, d);
    return { status: "success", deployment_id: d.id };
  });
  app.get(`${BASE}/deployments`, async (req) => {
    const name = (req.query as { name?: string }).name;
    const all = [...deployments.values()].filter((d) => name === undefined || d.resource_private_name === name);
    for (const d of all) advance(d);
    return { status: "success", data: { total: all.length, deployments: all.map(view) } };
  });
  app.get(`${BASE}/deployment/:id`, async (req, reply) => {
    const d = deployments.get((req.params as { id: string }).id);
    if (!d) return reply.code(404).send({ detail: "Deployment not found" });
    advance(d);
    return { status: "success", data: view(d) };
  });
  app.post(`${BASE}/deployment/:id/extend`, async (req, reply) => {
    const d = deployments.get((req.params as { id: string }).id);
    if (!d) return reply.code(404).send({ detail: "Deployment not found" });
    d.duration_hours += Number((req.body as { duration_hours: number }).duration_hours);
    return { status: "success", deployment_id: d.id };
  });
  app.delete(`${BASE}/deployment/:id`, async (req, reply) => {
    const d = deployments.get((req.params as { id: string }).id);
    if (!d) return reply.code(404).send({ detail: "Deployment not found" });
    d.status = "termination requested";
    return { status: "success", deployment_id: d.id };
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return {
    url,
    faults,
    deployments,
    calls,
    async close() {
      closing.abort();
      await app.close();
    },
  };
}
