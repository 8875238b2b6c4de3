import type { Readable } from "node:stream";
import type { CallOptions } from "./call-options.js";
import type { Descriptor } from "./descriptor.js";
import type { Digest } from "./digest.js";

/**
 * BlobStore: the only contract a remote cache backend (registry, S3, GHA, local directory) implements.
 * Blobs are write-once by digest; one mutable named pointer holds the cache config. The cache *format*
 * (records, chains, layers) is written once in `@kiln/cache` on top of this.
 */
export interface BlobReader {
  info(digest: Digest, o?: CallOptions): Promise<{ size: number; updatedAt?: Date } | undefined>;
  read(desc: Descriptor, o?: CallOptions): Promise<Readable>;
  readPointer(name: string, o?: CallOptions): Promise<Uint8Array | undefined>;
}

export interface BlobWriter {
  /** Write-once and idempotent: an existing digest is a no-op. Verifies the digest before commit. */
  write(desc: Descriptor, body: Readable, o?: CallOptions): Promise<void>;
  /** Mutable named pointer; last writer wins. */
  writePointer(name: string, data: Uint8Array, o?: CallOptions): Promise<void>;
  touch?(digest: Digest, o?: CallOptions): Promise<void>;
}

export interface BlobStore extends BlobReader, BlobWriter {
  readonly type: string;
  readonly capabilities: {
    readonly rangeReads: boolean;
    readonly touch: boolean;
    readonly mutablePointers: boolean;
  };
  close?(): Promise<void>;
}

/** Config-time descriptor of a backend: `create()` does no I/O; the store connects lazily. */
export interface CacheBackend<O = unknown> {
  readonly type: string;
  readonly options: O;
  create(): BlobStore;
}

export interface CacheBackendModule<O = unknown> {
  readonly type: string;
  /** Strict parser for the CLI's `type=…,k=v` form (BuildKit attribute names); env supplies fallbacks. */
  parseAttrs(attrs: Readonly<Record<string, string>>, env: Readonly<Record<string, string | undefined>>): O;
  backend(options: O): CacheBackend<O>;
}
