import type { Readable } from "node:stream";
import type { CallOptions } from "./call-options.js";
import type { Descriptor } from "./descriptor.js";
import type { Digest } from "./digest.js";

/**
 * BlobStore: the only contract a remote cache backend (registry, S3, GHA, local directory) implements.
 * Blobs are write-once by digest; named pointers (the cache index) are the only mutable state. The
 * cache *format* (records, chains, layers) and the read-merge-write of the index live once in
 * `@kiln/cache` on top of this, so a backend stays a thin adapter over its service.
 *
 * Errors: a missing blob is `NOT_FOUND`; a body whose digest or size does not match is `DATA_LOSS`;
 * an unreachable service is `UNAVAILABLE`; an aborted signal is `CANCELED`. Messages never contain
 * credentials.
 */
export interface BlobInfo {
  readonly size: number;
  /** When the blob was last written or touched, where the service reports it. */
  readonly updatedAt?: Date;
}

/** A pointer's content plus an opaque version token (ETag, manifest digest, entry number, …). */
export interface PointerValue {
  readonly data: Uint8Array;
  readonly version: string;
}

export interface WritePointerOptions extends CallOptions {
  /**
   * Compare-and-swap: the `version` read earlier, or `null` for "must not exist yet". Omitted means an
   * unconditional write. Backends without conditional writes (`capabilities.conditionalPointers` false)
   * ignore it; callers then confirm their write by reading the pointer back.
   */
  readonly expected?: string | null;
}

export interface BlobReader {
  info(digest: Digest, o?: CallOptions): Promise<BlobInfo | undefined>;
  /** Streams the blob; the stream errors with `DATA_LOSS` if the bytes do not match `desc`. */
  read(desc: Descriptor, o?: CallOptions): Promise<Readable>;
  readPointer(name: string, o?: CallOptions): Promise<PointerValue | undefined>;
}

export interface BlobWriter {
  /** Write-once and idempotent: an existing digest is a no-op. Verifies digest and size before commit. */
  write(desc: Descriptor, body: Readable, o?: CallOptions): Promise<void>;
  /** Resolves `false` (and changes nothing) when `o.expected` no longer matches; otherwise `true`. */
  writePointer(name: string, data: Uint8Array, o?: WritePointerOptions): Promise<boolean>;
  /** Refreshes a blob's age so the service's expiry keeps it (S3 `touch_refresh`). */
  touch?(digest: Digest, o?: CallOptions): Promise<void>;
}

export interface BlobStore extends BlobReader, BlobWriter {
  readonly type: string;
  readonly capabilities: {
    readonly rangeReads: boolean;
    readonly touch: boolean;
    /** `writePointer` honours `expected` atomically. */
    readonly conditionalPointers: boolean;
  };
  close?(): Promise<void>;
}

/** Config-time descriptor of a backend: `create()` does no I/O; the store connects lazily. */
export interface CacheBackend<O = unknown> {
  readonly type: string;
  readonly options: O;
  create(): BlobStore;
  /**
   * The pointer (cache index) names this backend's options select, when they select any (S3 `name=a;b`,
   * GHA `scope`): an export writes each, an import reads the first. Absent: derived from the attributes.
   */
  readonly pointerNames?: readonly string[];
  /** How many blobs an exporter should upload at once (S3 `upload_parallelism`); absent: its default. */
  readonly uploadParallelism?: number;
}

/** What the build shares with the backends it creates, so a cache talks to services as the rest of the build does. */
export interface CacheBackendContext {
  /** Reports a non-fatal problem (throttling, a skipped blob) as a build warning. */
  readonly warn?: (message: string) => void;
  /**
   * The builder's `@kiln/registry` client (Docker credentials, kiln.toml's TLS/plain-HTTP settings,
   * cached tokens); core sits below that package, so it is typed loosely here and checked by the
   * backend that uses it.
   */
  readonly registryClient?: unknown;
}

export interface CacheBackendModule<O = unknown> {
  readonly type: string;
  /** Strict parser for the CLI's `type=…,k=v` form (BuildKit attribute names); env supplies fallbacks. */
  parseAttrs(attrs: Readonly<Record<string, string>>, env: Readonly<Record<string, string | undefined>>): O;
  backend(options: O, context?: CacheBackendContext): CacheBackend<O>;
}
