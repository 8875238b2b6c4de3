import type { FileDigestMemo, RefManager } from "@kiln/cache";
import type { CallOptions, ContentStore, Digest, Executor, Ref } from "@kiln/core";
import type { RegistryClient } from "@kiln/registry";
import type { SshAgents } from "../ssh/agents.js";

/**
 * The decoded `pb.Op` as the builder reads it: a structural subset of `@kiln/llb`'s types, so the op
 * implementations depend on the wire shape and not on the builder DSL.
 */
export interface DecodedPlatform {
  architecture?: string;
  os?: string;
  variant?: string;
}

export interface DecodedOp {
  inputs?: readonly { digest: string; index: number }[];
  source?: { identifier: string; attrs?: Readonly<Record<string, string>> };
  file?: { actions?: readonly unknown[] };
  exec?: unknown;
  merge?: { inputs?: readonly { input?: number }[] };
  diff?: { lower?: { input?: number }; upper?: { input?: number } };
  platform?: DecodedPlatform;
}

/** What every op implementation may use; one per build job. */
export interface OpEnvironment {
  readonly refs: RefManager;
  readonly content: ContentStore;
  readonly fileDigests: FileDigestMemo;
  /** Local directories by source name (`context`, `dockerfile`, named contexts). */
  readonly localDirs: ReadonlyMap<string, string>;
  /** OCI layout directories by store id (`oci-layout://<store>/…`). */
  readonly ociStores: ReadonlyMap<string, string>;
  /** Runs RUN steps; undefined when no OCI runtime is available. */
  readonly executor?: Executor;
  /** Pulls registry images (`docker-image://` sources); undefined when none is configured. */
  readonly registry?: RegistryClient;
  /** Secret values by id (`--secret`); undefined when the build has no such secret. */
  readonly secret?: (id: string) => Promise<Uint8Array | undefined>;
  /** `--ssh` agents by id; undefined when the build forwards none. */
  readonly ssh?: SshAgents;
  /** Remote cache mounts (`cache-mounts=true`); undefined when the build exports and imports none. */
  readonly cacheMounts?: CacheMountHooks;
  /** Store directory (full RUN logs live under `logs/`). */
  readonly storeRoot: string;
}

export type BuildResultRef = Ref;

/** A `RUN --mount=type=cache` directory a step is about to use. */
export interface CacheMountUse {
  /** Portable identity (`cacheMountKey`): the same on every machine for the same Dockerfile. */
  readonly key: Digest;
  /** The mount's `id` (its target when it has none). */
  readonly id: string;
  /** The name `acquireCacheMount` knows it by in this store. */
  readonly localKey: string;
  readonly sharing: "shared" | "private" | "locked";
  readonly path: string;
}

export interface CacheMountHooks {
  /** Called with the lease held, before the step runs: records the use, restores imported contents. */
  using(use: CacheMountUse, o: CallOptions): Promise<void>;
}
