import { dirname } from "node:path";
import type { Digest } from "@kiln/core";
import { type FileDigestKey, type FileDigestRow, type Metadata, sameFile } from "./metadata.js";

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
  // Rows are loaded a directory subtree at a time: a tree walk asks for siblings one after another.
  const loaded = new Map<string, Map<string, FileDigestRow>>();
  const rowsFor = (path: string): Map<string, FileDigestRow> => {
    const dir = dirname(path);
    for (let d = dir; ; d = dirname(d)) {
      const rows = loaded.get(d);
      if (rows) return rows;
      if (d === dirname(d)) break;
    }
    const rows = metadata.getFileDigestsUnder(dir);
    loaded.set(dir, rows);
    return rows;
  };
  const flush = () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    metadata.putFileDigests(batch);
  };
  return {
    get(key) {
      const row = rowsFor(key.path).get(key.path);
      return row && sameFile(row, key) ? row.digest : undefined;
    },
    set(key, digest) {
      pending.push({ ...key, digest });
      if (pending.length >= FLUSH_EVERY) flush();
    },
    flush,
  };
}
