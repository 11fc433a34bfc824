/**
 * Spheron AI REST API stand-in (docs.spheron.ai/api-reference shapes): Bearer auth, GET /api/providers,
 * GET /api/gpu-offers, POST/GET /api/deployments, GET/DELETE /api/deployments/{id}. New deployments
 * are `deploying`, then `running` after `startReads` reads; fault switches in `faults`.
 */
import Fastify from "fastify";
import { CloudFaults, hangUntilClosed } from "../faults";

export interface SpheronDeployment {
  id: string;
  name: string;
  status: string;
  provider: string;
  offerId: string;
  gpuType: string;
  gpuCount: number;
  region: string;
  hourlyPrice: number;
  startupScript?: string;
  reads: number;
  runningReads: number;
  createdAt: string;
}

export async function startSpheronStandin(opts: { apiKey: string; price?: number; startReads?: number }) {
  const faults: CloudFaults = {};
  const closing = new AbortController();
  const deployments = new Map<string, SpheronDeployment>();
  const calls: { method: string; url: string; auth?: string }[] = [];
  let n = 0;
  const app = Fastify({ forceCloseConnections: true });
  app.addHook("onRequest", async (req, reply) => {
    calls.push({ method: req.method, url: req.url, auth: req.headers.authorization });
    if (faults.hang) await hangUntilClosed(closing.signal);
    if (faults.unavailable) return reply.code(503).send({ error: "Service Unavailable" });
    if (req.url.startsWith("/api/providers")) return;
    if (req.headers.authorization !== `Bearer ${opts.apiKey}`)
      return reply.code(401).send({ error: "Unauthorized", message: "Invalid API key" });
  });
  const offer = () => ({
    offerId: "rtx-4090-spheron-ai-1",
    provider: "spheron-ai",
    gpuType: "rtx-4090",
    gpuCount: 1,
    price: opts.price ?? 0.55,
    available: true,
    regions: ["us-east-1"],
    instanceType: "DEDICATED",
  });
  const view = (d: SpheronDeployment) => {
    const { reads: _r, runningReads: _rr, ...rest } = d;
    return rest;
  };
  const advance = (d: SpheronDeployment) => {
    d.reads++;
    if (d.status === "deploying" && d.reads >= (opts.startReads ?? 1)) d.status = faults.failDeploy ? "failed" : "running";
    else if (d.status === "running") {
      d.runningReads++;
      if (faults.terminateAfterReads !== undefined && d.runningReads > faults.terminateAfterReads) d.status = "terminated";
    }
  };
  app.get("/api/providers", async () => ["spheron-ai"]);
  app.get("/api/gpu-offers", async () => ({
    data: faults.noCapacity ? [] : [offer()],
    total: faults.noCapacity ? 0 : 1,
    page: 1,
    limit: 50,
  }));
  app.post("/api/deployments", async (req, reply) => {
    const b = req.body as Record<string, unknown>;
    if (faults.noCapacity) return reply.code(400).send({ error: "Bad Request", message: "Offer not available" });
    for (const k of ["provider", "offerId", "gpuType", "gpuCount", "region", "operatingSystem", "instanceType"]) {
      if (b?.[k] === undefined) return reply.code(400).send({ error: "Bad Request", message: `${k} is required` });
    }
    const d: SpheronDeployment = {
      id: `dep_${++n}`,
      name: String(b.name ?? `deployment-${n}`),
      status: "deploying",
      provider: String(b.provider),
      offerId: String(b.offerId),
      gpuType: String(b.gpuType),
      gpuCount: Number(b.gpuCount),
      region: String(b.region),
      hourlyPrice: opts.price ?? 0.55,
      startupScript: b.startupScript as string | undefined,
      reads: 0,
      runningReads: 0,
      createdAt: new Date().toISOString(),
    };
    deployments.set(d.id, d);
    return reply.code(201).send(view(d));
  });
  app.get("/api/deployments", async (req) => {
    const name = (req.query as { name?: string }).name;
    const all = [...deployments.values()].filter((d) => name === undefined || d.name === name);
    for (const d of all) advance(d);
    return { data: all.map(view), total: all.length };
  });
  app.get("/api/deployments/:id", async (req, reply) => {
    const d = deployments.get((req.params as { id: string }).id);
    if (!d) return reply.code(404).send({ error: "Not Found", message: "Deployment not found" });
    advance(d);
    return view(d);
  });
  app.delete("/api/deployments/:id", async (req, reply) => {
    const d = deployments.get((req.params as { id: string }).id);
    if (!d) return reply.code(404).send({ error: "Not Found", message: "Deployment not found" });
    d.status = "terminated";
    return { message: "Deployment terminated", id: d.id };
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
