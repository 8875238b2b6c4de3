import type { Digest } from "@kiln/core";
import type { FileDigestKey, Metadata } from "./metadata.js";

/**
 * Per-file content digests remembered by (path, size, mtime, inode, mode), so a warm rebuild only
 * stats files. Writes are buffered and flushed in one transaction.
 */
export interface FileDigestMemo {
  get(key: FileDigestKey): Digest | undefined;
  set(key: FileDigestKey, digest: Digest): void;
  flush(): void;
}

const FLUSH_EVERY = 5000;

export function createFileDigestMemo(metadata: Metadata): FileDigestMemo {
  let pending: (FileDigestKey & { digest: Digest })[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    metadata.putFileDigests(batch);
  };
  return {
    get: (key) => metadata.getFileDigest(key),
    set(key, digest) {
      pending.push({ ...key, digest });
      if (pending.length >= FLUSH_EVERY) flush();
    },
    flush,
  };
}
