/**
 * Spheron AI (app.spheron.ai) through its public REST API (docs.spheron.ai/api-reference):
 * `Authorization: Bearer <key>`; `GET /api/gpu-offers` (offers with an hourly price), `POST
 * /api/deployments` (rent an instance from an offer), `GET /api/deployments/{id}`, `GET
 * /api/deployments` (list), `DELETE /api/deployments/{id}` (terminate).
 *
 * Spheron rents virtual machines, not containers: the agent's image runs on the VM through the
 * startup script the deployment carries (docker run, with the agent's env only). The deployment's
 * `name` is the session's idempotency key, so a provision after a crash finds the instance it rented
 * instead of renting a second one. Assumptions about fields the docs leave open are in
 * docs/cloud-providers.md.
 */
import type { ComputeProvider, Provision, ProvisionRequest, Quote, WorkloadSpec, WorkloadStatus } from "./provider";
import { ProvisionError, WorkloadRefused } from "./provider";
import { ApiError, RestClient, usdToUnits } from "./restClient";
import { sleep } from "../errors";

export interface SpheronOptions {
  apiUrl: string;
  apiKey: string;
  instanceType: string;
  sshKeyId?: string;
  operatingSystem: string;
  requestTimeoutMs: number;
  /** How long a new instance may take to reach `running` before provision gives up. */
  startDeadlineMs: number;
  pollMs: number;
}

interface Offer {
  offerId: string;
  provider: string;
  gpuType: string;
  gpuCount: number;
  price: number; // USD per hour
  available: boolean;
  regions?: string[];
  region?: string;
}

interface Deployment {
  id: string;
  name?: string;
  status: string;
  ipAddress?: string;
  hourlyPrice?: number;
}

const list = <T>(v: unknown, key: string): T[] =>
  Array.isArray(v) ? v : Array.isArray((v as Record<string, unknown>)?.[key]) ? ((v as Record<string, unknown>)[key] as T[]) : [];

/** The startup script: pull and run the agent's image with the agent's own env, nothing of the keeper's. */
export function startupScript(spec: WorkloadSpec, name: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const env = Object.entries(spec.env)
    .map(([k, v]) => `-e ${q(`${k}=${v}`)}`)
    .join(" ");
  const cmd = (spec.command ?? []).map(q).join(" ");
  return `#!/bin/sh\nset -e\ndocker run -d --restart=no --name ${q(name)} --cpus=${spec.cpu} --memory=${spec.memoryMb}m ${env} ${q(spec.image!)} ${cmd}\n`;
}

export class SpheronProvider implements ComputeProvider {
  readonly name = "spheron";
  private readonly api: RestClient;

  constructor(private readonly o: SpheronOptions) {
    this.api = new RestClient({
      baseUrl: o.apiUrl,
      headers: { authorization: `Bearer ${o.apiKey}` },
      timeoutMs: o.requestTimeoutMs,
      name: "spheron",
    });
  }

  private async cheapestOffer(): Promise<Offer | undefined> {
    const res = await this.api.call<unknown>(
      "GET",
      `/api/gpu-offers?limit=50&sortBy=price&sortOrder=asc&instanceType=${encodeURIComponent(this.o.instanceType)}`,
    );
    const offers = list<Offer>(res, "data").filter((o) => o.available !== false && typeof o.price === "number");
    offers.sort((a, b) => a.price - b.price);
    return offers[0];
  }

  async quote(_spec: WorkloadSpec, _hours: number): Promise<Quote> {
    const offer = await this.cheapestOffer();
    return offer ? { pricePerHour: usdToUnits(offer.price), available: true } : { pricePerHour: 0n, available: false };
  }

  private async findByName(name: string): Promise<Deployment | undefined> {
    const res = await this.api.call<unknown>("GET", `/api/deployments?name=${encodeURIComponent(name)}`);
    return list<Deployment>(res, "data").find((d) => d.name === name && !["terminated", "terminating", "failed"].includes(d.status));
  }

  async provision(req: ProvisionRequest): Promise<Provision> {
    if (!req.spec.image) throw new WorkloadRefused("spheron runs container images: config.image is required");
    let created = false;
    let d = await this.findByName(req.idempotencyKey);
    if (!d) {
      const offer = await this.cheapestOffer();
      if (!offer) throw new ProvisionError("spheron: no GPU offer available", true);
      d = await this.api.call<Deployment>("POST", "/api/deployments", {
        provider: offer.provider,
        offerId: offer.offerId,
        gpuType: offer.gpuType,
        gpuCount: offer.gpuCount,
        region: offer.region ?? offer.regions?.[0],
        operatingSystem: this.o.operatingSystem,
        instanceType: this.o.instanceType,
        ...(this.o.sshKeyId ? { sshKeyId: this.o.sshKeyId } : {}),
        name: req.idempotencyKey,
        startupScript: startupScript(req.spec, req.idempotencyKey),
      });
      created = true;
    }
    const end = Date.now() + this.o.startDeadlineMs;
    for (;;) {
      if (d.status === "running") return { ref: d.id, created };
      if (["failed", "terminated", "terminating"].includes(d.status))
        throw new ProvisionError(`spheron: deployment ${d.id} ${d.status} before it ran`, false);
      if (Date.now() > end)
        throw new ProvisionError(`spheron: deployment ${d.id} not running after ${this.o.startDeadlineMs} ms (${d.status})`, false);
      await sleep(this.o.pollMs);
      d = await this.api.call<Deployment>("GET", `/api/deployments/${encodeURIComponent(d.id)}`);
    }
  }

  async status(key: string): Promise<WorkloadStatus> {
    const d = await this.findAny(key);
    if (!d) return { state: "unknown", ref: "", detail: "no spheron deployment for this session" };
    const state =
      d.status === "running" ? "running" : ["deploying", "pending", "creating", "provisioning"].includes(d.status) ? "starting" : "failed";
    return { state, ref: d.id, detail: d.status === "running" ? undefined : `spheron deployment ${d.status}` };
  }

  private async findAny(name: string): Promise<Deployment | undefined> {
    const res = await this.api.call<unknown>("GET", `/api/deployments?name=${encodeURIComponent(name)}`);
    const all = list<Deployment>(res, "data").filter((d) => d.name === name);
    return all.find((d) => d.status !== "terminated") ?? all[all.length - 1];
  }

  /** Spheron bills by the hour until the instance is terminated: nothing to extend. */
  async extend(): Promise<void> {}

  async terminate(key: string): Promise<void> {
    const res = await this.api.call<unknown>("GET", `/api/deployments?name=${encodeURIComponent(key)}`);
    for (const d of list<Deployment>(res, "data").filter((x) => x.name === key && !["terminated", "terminating"].includes(x.status))) {
      try {
        await this.api.call("DELETE", `/api/deployments/${encodeURIComponent(d.id)}`);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
    }
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    try {
      await this.api.call("GET", "/api/providers");
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }
}
