import type { CallOptions } from "./call-options.js";
import type { ImageConfig } from "./image.js";
import type { Platform } from "./platform.js";
import type { ProgressWriter } from "./progress.js";
import type { ImmutableRef } from "./ref.js";

/**
 * Exporter: writes a build result somewhere (an OCI/docker archive, a directory, a registry). The
 * attrs are BuildKit's `--output type=…,k=v` attributes minus `type`.
 */
export interface ExportRequest {
  readonly ref: ImmutableRef;
  readonly config: ImageConfig;
  readonly platform: Platform;
  /** Image names from `-t` and `name=`. */
  readonly names: readonly string[];
  readonly attrs: Readonly<Record<string, string>>;
  readonly progress: ProgressWriter;
}

/** Keys follow BuildKit's exporter response (`containerimage.digest`, `containerimage.config.digest`, …). */
export type ExportResponse = Record<string, string>;

export interface Exporter {
  readonly type: string;
  export(req: ExportRequest, o?: CallOptions): Promise<ExportResponse>;
}
