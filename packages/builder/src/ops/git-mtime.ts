import { lutimes, readdir, utimes } from "node:fs/promises";
import { join } from "node:path";

/** Sets every mtime under `root` (symlinks themselves, directories last) to `time` (`git.mtime=commit`). */
export async function resetMtimes(root: string, time: Date): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) await resetMtimes(path, time);
    else if (entry.isSymbolicLink()) await lutimes(path, time, time);
    else await utimes(path, time, time);
  }
  await utimes(root, time, time);
}
