import type { Readable } from "node:stream";
import type { CallOptions } from "./call-options.js";
import type { Digest } from "./digest.js";

/**
 * A content store: immutable blobs by digest. Writes are verified (size and digest) and atomic (temp
 * file + rename), so a reader never sees a partial blob and a crash never leaves one behind.
 */
export interface ContentInfo {
  readonly digest: Digest;
  readonly size: number;
}

export interface ContentStore {
  info(digest: Digest, o?: CallOptions): Promise<ContentInfo | undefined>;
  /** NOT_FOUND when missing. */
  read(digest: Digest, o?: CallOptions): Promise<Readable>;
  readBytes(digest: Digest, o?: CallOptions): Promise<Buffer>;
  /** Writes a stream; DATA_LOSS if `expected` is given and does not match. Idempotent. */
  write(
    body: Readable | Uint8Array,
    expected?: { digest?: Digest; size?: number },
    o?: CallOptions,
  ): Promise<ContentInfo>;
  /** Host path of a stored blob, for zero-copy readers (hardlink, sendfile). */
  path(digest: Digest): string;
}
