import type { CallOptions } from "./call-options.js";
import type { Definition } from "./definition.js";
import type { Digest } from "./digest.js";
import type { SourceLocation } from "./errors.js";
import type { ImageConfig } from "./image.js";
import type { Platform } from "./platform.js";

/**
 * Frontend: turns a build description (a Dockerfile, ...) into a Definition plus the image config of
 * the result. A frontend does no I/O of its own: it reads through the bridge.
 */
export interface ResolvedImage {
  /** LLB source identifier to use for this image, e.g. `oci-layout://<store>/<name>@sha256:…`. */
  readonly identifier: string;
  /** LLB source attrs to set with it (e.g. `oci.store`). */
  readonly attrs: Readonly<Record<string, string>>;
  readonly manifestDigest: Digest;
  readonly config: ImageConfig;
}

export interface FrontendBridge {
  /**
   * Resolves an image reference or a named-context value (`oci-layout:///path:tag`,
   * `docker-image://ref`) to its config. NOT_FOUND with a hint when it cannot be found.
   */
  resolveImage(ref: string, platform: Platform, o?: CallOptions): Promise<ResolvedImage>;
  warn(message: string, location?: SourceLocation): void;
}

export interface FrontendRequest {
  /**
   * BuildKit's frontend attrs: `filename`, `target`, `build-arg:NAME`, `context:NAME`, `label:KEY`,
   * `platform`, `no-cache`.
   */
  readonly attrs: Readonly<Record<string, string>>;
  /** The build file as read by the builder; `name` is how errors name it. */
  readonly file: { readonly name: string; readonly data: Uint8Array };
  /** Ignore-file contents for the main context (`.dockerignore` or `<file>.dockerignore`). */
  readonly ignoreFile?: Uint8Array;
  readonly platform: Platform;
  readonly bridge: FrontendBridge;
}

export interface FrontendResult {
  readonly definition: Definition;
  readonly config: ImageConfig;
  /** Maps vertex digests to the instruction that produced them, for error messages. */
  readonly locations: Readonly<Record<string, SourceLocation>>;
}

export interface Frontend {
  readonly name: string;
  solve(req: FrontendRequest, o?: CallOptions): Promise<FrontendResult>;
}
