import { cp, lchown, lstat, opendir, readdir } from "node:fs/promises";
import { join, relative } from "node:path";

/** A local source's selection: relative path → kept (`.dockerignore` and include patterns applied). */
export type LocalFilter = (relativePath: string, isDirectory: boolean) => boolean;

/**
 * Whether the filter leaves out anything at or below `path` (inside `root`). Walks until the first
 * excluded entry; an excluded directory is not entered.
 */
export async function excludesAny(root: string, path: string, filter: LocalFilter): Promise<boolean> {
  const rel = relative(root, path);
  const info = await lstat(path);
  if (rel !== "" && !filter(rel, info.isDirectory())) return true;
  if (!info.isDirectory()) return false;
  const pending = [path];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for await (const entry of await opendir(dir)) {
      const full = join(dir, entry.name);
      if (!filter(relative(root, full), entry.isDirectory())) return true;
      if (entry.isDirectory()) pending.push(full);
    }
  }
  return false;
}

/**
 * Copies what the filter keeps of `source` (inside `root`) to `copy`, keeping modes, times and owners
 * like `cp -a` does.
 */
export async function copyFiltered(
  root: string,
  source: string,
  copy: string,
  filter: LocalFilter,
): Promise<void> {
  await cp(source, copy, {
    recursive: true,
    preserveTimestamps: true,
    verbatimSymlinks: true,
    filter: async (src) => {
      const rel = relative(root, src);
      return rel === "" || rel.startsWith("..") || filter(rel, (await lstat(src)).isDirectory());
    },
  });
  const entries = (await lstat(copy)).isDirectory() ? await readdir(copy, { recursive: true }) : [];
  for (const rel of ["", ...entries]) {
    const info = await lstat(join(source, rel));
    await lchown(join(copy, rel), info.uid, info.gid);
  }
}
