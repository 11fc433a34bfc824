/** Fault switches shared by the cloud provider stand-ins. */
export interface CloudFaults {
  /** Every request hangs (until the server closes): the API timeout path. */
  hang?: boolean;
  /** Every request answers HTTP 503. */
  unavailable?: boolean;
  /** No offer / no capacity: nothing can be rented. */
  noCapacity?: boolean;
  /** New deployments go to a failed state instead of running. */
  failDeploy?: boolean;
  /** A running deployment is terminated by the provider this many status reads after it ran. */
  terminateAfterReads?: number;
}

export function hangUntilClosed(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
