import type { Digest } from "./digest.js";

/**
 * OCI image configuration (image-spec config.md), with Docker's extra fields that BuildKit keeps
 * (`Shell`, `Healthcheck`, `OnBuild`, `ArgsEscaped`).
 */
export interface HealthConfig {
  /** `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", "..."]`. */
  Test?: string[];
  /** Durations in nanoseconds, like Docker. */
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: "layers"; diff_ids: Digest[] };
  history?: HistoryEntry[];
  /** Unknown fields of a base image config are kept as they are. */
  [extra: string]: unknown;
}

/** Docker's default PATH for Linux images (what BuildKit puts into a scratch image). */
export const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
