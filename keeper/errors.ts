/**
 * The keeper's own errors, typed, so that a retry decision is made on what an error is (its class,
 * its code) and never by reading its message. Every error the keeper raises on purpose is a
 * KeeperError: a stable `code` (UPPER_SNAKE, shown to operators and stored with failures) and
 * `retryable` (would the same call, made again later, be expected to succeed?).
 *
 * Errors that come from outside (a library, a node's JSON-RPC answer, an HTTP body) are converted at
 * the edge that receives them, into one of these, by the module that knows what they mean.
 *
 * Also the two time helpers the keeper needs everywhere, written once: `sleep` and `withTimeout`.
 */

export class KeeperError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Expected to pass when tried again later: a node or API that is down, slow, or not ready yet. */
export class RetryableError extends KeeperError {
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, code, true, options);
  }
}

/** Will fail the same way every time until something changes (input, configuration, funds, a rule). */
export class PermanentError extends KeeperError {
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, code, false, options);
  }
}

/** No answer within the time allowed. Retryable: the work may still finish, or the next try may be faster. */
export class TimeoutError extends RetryableError {
  constructor(
    readonly what: string,
    readonly ms: number,
    message = `${what}: no answer within ${ms} ms`,
    code = "TIMEOUT",
  ) {
    super(message, code);
  }
}

/** A chain node's answer (JSON-RPC, Cosmos REST) that the call could not use. */
export class RpcError extends KeeperError {}

/** A compute provider's API (its HTTP gateway, its cloud API) that refused or failed a request. */
export class ProviderError extends KeeperError {}

/** True for a KeeperError marked retryable; an error the keeper did not type is not judged here. */
export function isRetryable(err: unknown): boolean {
  return err instanceof KeeperError && err.retryable;
}

export const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `p` (already started by the caller), or a TimeoutError after `ms`. The timer is cleared when `p`
 * settles first. With no time left (`ms` not above 0) it rejects at once; `p`'s later failure is then
 * handled here, since an unhandled rejection would take the process down.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (!(ms > 0)) {
    p.catch(() => undefined);
    return Promise.reject(new TimeoutError(what, ms, `${what}: deadline passed`, "DEADLINE_PASSED"));
  }
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
    }),
  ]);
}
