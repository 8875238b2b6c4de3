import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { type CallOptions, type SnapshotUsage, throwIfAborted } from "@kiln/core";

/**
 * Allocated bytes (st_blocks × 512) and inode count of a tree, counting each inode once so hardlinks
 * are not double-counted.
 */
export async function treeUsage(dir: string, o: CallOptions = {}): Promise<SnapshotUsage> {
  const seen = new Set<string>();
  let size = 0;
  const pending = [dir];
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    throwIfAborted(o.signal);
    const st = await lstat(path, { bigint: true });
    const inode = `${st.dev}:${st.ino}`;
    if (!seen.has(inode)) {
      seen.add(inode);
      size += Number(st.blocks) * 512;
    }
    if (st.isDirectory()) {
      for (const name of await readdir(path)) pending.push(join(path, name));
    }
  }
  return { size, inodes: seen.size };
}
