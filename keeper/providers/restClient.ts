/**
 * A small JSON-over-HTTPS client shared by the REST cloud providers (spheron, ionet): one timeout per
 * request (a hung API must not hold the keeper's loop), the API key only in headers (never in an
 * error message or a log), and errors that say whether retrying can help.
 */
import { ProvisionError } from "./provider";

export class ApiError extends ProvisionError {
  constructor(
    message: string,
    readonly status: number | undefined,
    retryable: boolean,
  ) {
    super(message, retryable);
    this.name = "ApiError";
  }
}

export interface RestOptions {
  baseUrl: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Names the provider in error messages. */
  name: string;
}

export class RestClient {
  constructor(private readonly o: RestOptions) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = this.o.baseUrl.replace(/\/+$/, "") + path;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { accept: "application/json", ...(body !== undefined ? { "content-type": "application/json" } : {}), ...this.o.headers },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (err) {
      const e = err as Error;
      const what = e.name === "TimeoutError" || e.name === "AbortError" ? `timed out after ${this.o.timeoutMs} ms` : e.message;
      throw new ApiError(`${this.o.name} API ${method} ${path}: ${what}`, undefined, true);
    }
    const text = await res.text().catch(() => "");
    if (!res.ok) {
      // 5xx and 429 are the API's trouble and may pass; other 4xx are ours and will not.
      const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
      throw new ApiError(`${this.o.name} API ${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`, res.status, retryable);
    }
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(`${this.o.name} API ${method} ${path}: response is not JSON`, res.status, true);
    }
  }
}

/** USD (a JSON number) to USDC base units, rounded up: a quote never understates a cost. */
export function usdToUnits(usd: number): bigint {
  if (!Number.isFinite(usd) || usd < 0) throw new Error(`not a price: ${usd}`);
  return BigInt(Math.ceil(Math.round(usd * 1e8) / 100));
}
