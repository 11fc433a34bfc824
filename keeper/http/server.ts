/** The keeper's HTTP server (fastify): /health and /metrics now; the WATT APIs mount here later. */
import Fastify, { FastifyInstance } from "fastify";
import type { Metrics } from "../metrics";

export interface HealthSource {
  health(): Promise<Record<string, unknown> & { ok: boolean }>;
}

export function createHttpServer(metrics: Metrics, health: HealthSource): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1_048_576 });
  app.get("/health", async (_req, reply) => {
    const h = await health.health();
    return reply.code(h.ok ? 200 : 503).send(h);
  });
  app.get("/metrics", async (_req, reply) => {
    return reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return app;
}
