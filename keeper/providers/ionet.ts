/**
 * io.net IO Cloud containers (CaaS) through its public REST API (io.net/docs/reference/caas):
 * `x-api-key: <key>`; `GET /enterprise/v1/io-cloud/caas/price` (price of a hardware/location for N
 * hours, `data.total_cost_usdc`), `POST .../caas/deploy` (`resource_private_name`, `duration_hours`,
 * `hardware_id`, `location_ids`, `container_config`, `registry_config` -> `{status, deployment_id}`),
 * `GET .../caas/deployments` (list), `GET .../caas/deployment/{id}`, `POST
 * .../caas/deployment/{id}/extend`, `DELETE .../caas/deployment/{id}`.
 *
 * io.net bills the whole `duration_hours` up front, so the session's paid time (rounded up to hours)
 * is what is rented, and an extension rents the extra hours. `resource_private_name` is the session's
 * idempotency key: a provision after a crash finds the deployment instead of paying for a second one.
 */
import type { ComputeProvider, Provision, ProvisionRequest, Quote, WorkloadSpec, WorkloadStatus } from "./provider";
import { ProvisionError, WorkloadRefused } from "./provider";
import { ApiError, RestClient, usdToUnits } from "./restClient";
import { sleep } from "../errors";

export interface IonetOptions {
  apiUrl: string;
  apiKey: string;
  hardwareId: number;
  locationIds: number[];
  gpusPerContainer: number;
  trafficPort: number;
  requestTimeoutMs: number;
  startDeadlineMs: number;
  pollMs: number;
}

interface IoDeployment {
  id: string;
  name?: string;
  resource_private_name?: string;
  status: string;
  amount_paid?: number;
  completed_percent?: number;
  started_at?: string;
  duration_hours?: number;
}

const BASE = "/enterprise/v1/io-cloud/caas";
const DEAD = ["failed", "destroyed", "termination requested", "terminated", "completed"];
const nameOf = (d: IoDeployment) => d.resource_private_name ?? d.name;

export class IonetProvider implements ComputeProvider {
  readonly name = "ionet";
  private readonly api: RestClient;

  constructor(private readonly o: IonetOptions) {
    this.api = new RestClient({ baseUrl: o.apiUrl, headers: { "x-api-key": o.apiKey }, timeoutMs: o.requestTimeoutMs, name: "ionet" });
  }

  async quote(_spec: WorkloadSpec, hours: number): Promise<Quote> {
    const h = Math.max(1, Math.ceil(hours));
    const q = new URLSearchParams({
      location_ids: JSON.stringify(this.o.locationIds),
      hardware_id: String(this.o.hardwareId),
      duration_hours: String(h),
      gpus_per_container: String(this.o.gpusPerContainer),
      replica_count: "1",
    });
    const res = await this.api.call<{ data?: { total_cost_usdc?: number; available_replica_count?: number[] } }>(
      "GET",
      `${BASE}/price?${q}`,
    );
    const total = res?.data?.total_cost_usdc;
    if (typeof total !== "number") return { pricePerHour: 0n, available: false };
    const avail = res.data?.available_replica_count;
    return { pricePerHour: usdToUnits(total / h), available: avail === undefined || avail.some((n) => n >= 1) };
  }

  private async find(key: string, live: boolean): Promise<IoDeployment | undefined> {
    const res = await this.api.call<{ data?: { deployments?: IoDeployment[] } }>(
      "GET",
      `${BASE}/deployments?page=1&page_size=100&name=${encodeURIComponent(key)}`,
    );
    const all = (res?.data?.deployments ?? []).filter((d) => nameOf(d) === key);
    return live ? all.find((d) => !DEAD.includes(d.status)) : (all.find((d) => !DEAD.includes(d.status)) ?? all[all.length - 1]);
  }

  private async get(id: string): Promise<IoDeployment> {
    const res = await this.api.call<{ data: IoDeployment }>("GET", `${BASE}/deployment/${encodeURIComponent(id)}`);
    return res.data;
  }

  async provision(req: ProvisionRequest): Promise<Provision> {
    if (!req.spec.image) throw new WorkloadRefused("ionet runs container images: config.image is required");
    let created = false;
    let d = await this.find(req.idempotencyKey, true);
    if (!d) {
      const hours = Math.max(1, Math.ceil((req.endsAt - Date.now() / 1000) / 3600));
      const res = await this.api.call<{ status: string; deployment_id: string }>("POST", `${BASE}/deploy`, {
        resource_private_name: req.idempotencyKey,
        duration_hours: hours,
        gpus_per_container: this.o.gpusPerContainer,
        hardware_id: this.o.hardwareId,
        location_ids: this.o.locationIds,
        container_config: {
          replica_count: 1,
          env_variables: req.spec.env,
          ...(req.spec.command ? { entrypoint: req.spec.command } : {}),
          traffic_port: this.o.trafficPort,
        },
        registry_config: { image_url: req.spec.image },
      });
      if (!res?.deployment_id) throw new ProvisionError(`ionet: deploy answered without a deployment id (${res?.status})`, true);
      d = { id: res.deployment_id, status: "deployment requested" };
      created = true;
    }
    const end = Date.now() + this.o.startDeadlineMs;
    for (;;) {
      if (d.status === "running") return { ref: d.id, created };
      if (DEAD.includes(d.status)) throw new ProvisionError(`ionet: deployment ${d.id} ${d.status} before it ran`, false);
      if (Date.now() > end)
        throw new ProvisionError(`ionet: deployment ${d.id} not running after ${this.o.startDeadlineMs} ms (${d.status})`, false);
      await sleep(this.o.pollMs);
      d = await this.get(d.id);
    }
  }

  async status(key: string): Promise<WorkloadStatus> {
    const d = await this.find(key, false);
    if (!d) return { state: "unknown", ref: "", detail: "no io.net deployment for this session" };
    const state = d.status === "running" ? "running" : DEAD.includes(d.status) ? "failed" : "starting";
    return { state, ref: d.id, detail: d.status === "running" ? undefined : `io.net deployment ${d.status}` };
  }

  /**
   * Rents the hours the new end needs beyond what is already paid: the deployment's `duration_hours`
   * counted from its `started_at` (when the API gives them; otherwise the whole remaining time is
   * rented again, which overpays rather than stops a paid session early).
   */
  async extend(key: string, endsAt: number): Promise<void> {
    const found = await this.find(key, true);
    if (!found) throw new ProvisionError("ionet: no live deployment to extend", true);
    const d = await this.get(found.id);
    const t = Date.now() / 1000;
    const paidUntil = d.started_at && d.duration_hours ? Date.parse(d.started_at) / 1000 + d.duration_hours * 3600 : t;
    const hours = Math.ceil((endsAt - Math.max(t, paidUntil)) / 3600);
    if (hours <= 0) return;
    await this.api.call("POST", `${BASE}/deployment/${encodeURIComponent(d.id)}/extend`, { duration_hours: hours });
  }

  async terminate(key: string): Promise<void> {
    const d = await this.find(key, true);
    if (!d) return;
    try {
      await this.api.call("DELETE", `${BASE}/deployment/${encodeURIComponent(d.id)}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }

  async health(): Promise<{ ok: boolean; detail?: string }> {
    try {
      await this.api.call("GET", `${BASE}/deployments?page=1&page_size=1`);
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: (err as Error).message };
    }
  }
}
