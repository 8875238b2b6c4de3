import type { CallOptions } from "./call-options.js";
import type { Mount } from "./snapshotter.js";

/**
 * Executor: runs one process in a container (OCI runtime bundle + runc/crun). The root filesystem and
 * extra mounts come as snapshotter mounts; the executor never knows about refs or caches.
 */
export interface ProcessSpec {
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  /** `name`, `uid`, `uid:gid` or `name:group`, resolved against the rootfs /etc/passwd and /etc/group. */
  readonly user?: string;
}

export interface ExecMount {
  readonly dest: string;
  readonly mounts: readonly Mount[];
  readonly readonly?: boolean;
}

export type NetworkMode = "sandbox" | "host" | "none";

/**
 * `insecure` (RUN --security=insecure, after the `security.insecure` entitlement was granted): every
 * capability, no masked or read-only kernel paths, writable /sys, all devices allowed.
 */
export type SecurityMode = "sandbox" | "insecure";

export interface ExecRequest {
  readonly rootfs: readonly Mount[];
  readonly mounts: readonly ExecMount[];
  readonly process: ProcessSpec;
  readonly network?: NetworkMode;
  readonly security?: SecurityMode;
  readonly hostname?: string;
  /** Receives output as it is produced. */
  readonly stdout?: (chunk: Uint8Array) => void;
  readonly stderr?: (chunk: Uint8Array) => void;
}

export interface Executor {
  readonly name: string;
  /** Resolves with the exit code; rejects only when the container could not be run at all. */
  run(req: ExecRequest, o?: CallOptions): Promise<{ exitCode: number }>;
}
