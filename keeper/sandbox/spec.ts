/**
 * One description of an isolated run, turned into bubblewrap arguments or a hardened Docker
 * HostConfig. Used by the session providers (process, docker) and, later, the code-execution API.
 */
export interface IsolationSpec {
  /** Program and arguments to run inside. */
  command: string[];
  /** The only environment the program sees. Never the keeper's. */
  env: Record<string, string>;
  memoryMb: number;
  cpu: number;
  /** Most processes/threads at once. */
  pids: number;
  /** Largest file the program may write, in bytes. */
  fileSizeBytes: number;
  /** Size of the writable /tmp, in MiB. */
  tmpMb: number;
}

/** The uid/gid every sandboxed program runs as: nobody. */
export const SANDBOX_UID = 65534;

export const DEFAULT_LIMITS = { pids: 64, fileSizeBytes: 16 * 1024 * 1024, tmpMb: 64 } as const;
