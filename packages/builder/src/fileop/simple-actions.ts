import {
  chmod,
  lchown,
  lstat,
  lutimes,
  mkdir,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { KilnError } from "@kiln/core";
import { resolveInRoot } from "@kiln/snapshotter";
import { displayPath, fsError, mkdirAll } from "./fs-util.js";
import { pathMatch } from "./match.js";
import type { Owner } from "./owner.js";
import {
  absPath,
  cleanActionPath,
  goSplit,
  sortByteOrder,
  splitComponents,
  splitWildcards,
} from "./paths.js";
import { isAbsent, isVisible, resolvePath } from "./resolve.js";
import {
  type FileActionMkDir,
  type FileActionMkFile,
  type FileActionRm,
  type FileActionSymlink,
  timestampSeconds,
} from "./types.js";

/**
 * mkdir: the path is resolved inside the tree (symlinks included); with `makeParents` missing parents
 * are created too (all with the given mode and owner), otherwise an existing path is left untouched.
 */
export async function runMkdir(root: string, a: FileActionMkDir, owner: Owner | undefined): Promise<void> {
  const path = a.path ?? "";
  const mode = (a.mode ?? 0) & 0o777;
  const time = timestampSeconds(a.timestamp);
  const host = await resolveInRoot(root, absPath(path));
  try {
    if (a.makeParents) {
      await mkdirAll(host, mode, owner, time);
      return;
    }
    try {
      await mkdir(host, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return;
      throw err;
    }
    await chmod(host, mode);
    if (owner) await lchown(host, owner.uid, owner.gid);
    if (time !== undefined) await lutimes(host, time, time);
  } catch (err) {
    throw fsError(err, "mkdir", displayPath(root, host));
  }
}

/** mkfile: writes (or truncates) the file; a new file gets `mode`, an existing one keeps its own. */
export async function runMkfile(root: string, a: FileActionMkFile, owner: Owner | undefined): Promise<void> {
  const host = await resolveInRoot(root, absPath(a.path ?? ""));
  const mode = (a.mode ?? 0) & 0o777;
  const time = timestampSeconds(a.timestamp);
  try {
    const existed = await lstat(host).then(
      () => true,
      () => false,
    );
    await writeFile(host, a.data ?? new Uint8Array(), { mode });
    if (!existed) await chmod(host, mode);
    if (owner) await lchown(host, owner.uid, owner.gid);
    if (time !== undefined) await lutimes(host, time, time);
  } catch (err) {
    throw fsError(err, "mkfile", displayPath(root, host));
  }
}

/** symlink: `oldpath` is stored verbatim; `newpath` is resolved inside the tree and must not exist. */
export async function runSymlink(
  root: string,
  a: FileActionSymlink,
  owner: Owner | undefined,
): Promise<void> {
  const host = await resolveInRoot(root, absPath(a.newpath ?? ""));
  const time = timestampSeconds(a.timestamp);
  try {
    await symlink(a.oldpath ?? "", host);
    if (owner) await lchown(host, owner.uid, owner.gid);
    if (time !== undefined) await lutimes(host, time, time);
  } catch (err) {
    throw fsError(err, "symlink", displayPath(root, host));
  }
}

/**
 * rm: removes recursively; the last component is never followed. Without `allowNotFound` a missing
 * path is NOT_FOUND. With `allowWildcard` the last components are glob patterns and no match is fine.
 */
export async function runRm(root: string, a: FileActionRm): Promise<void> {
  const path = a.path ?? "";
  if (!a.allowWildcard) {
    await rmPath(root, path, a.allowNotFound ?? false);
    return;
  }
  for (const match of await resolveWildcards(root, cleanActionPath(path), false)) {
    await rmPath(root, match, a.allowNotFound ?? false);
  }
}

async function rmPath(root: string, path: string, allowNotFound: boolean): Promise<void> {
  const [dir, base] = goSplit(absPath(path));
  if (base === "") throw new KilnError("INVALID_ARGUMENT", "rm: refusing to remove the root directory");
  const host = join(await resolveInRoot(root, dir), base);
  if (!allowNotFound) {
    try {
      await stat(host);
    } catch (err) {
      if (isAbsent(err)) throw fsError(err, "rm", displayPath(root, host));
    }
  }
  try {
    await rm(host, { recursive: true, force: true });
  } catch (err) {
    throw fsError(err, "rm", displayPath(root, host));
  }
}

/**
 * Expands the wildcard part of `pattern` against a tree: the part before the first wildcard component
 * is resolved (its last symlink only with `followLinks`), entries below are matched with `path.Match`
 * in byte order, and a matching directory is not descended. Results are root-relative (`a/b`).
 * The prefix must exist (NOT_FOUND otherwise), as BuildKit walks it.
 */
export async function resolveWildcards(
  root: string,
  pattern: string,
  followLinks: boolean,
  visible?: (rel: string, isDir: boolean) => boolean,
): Promise<string[]> {
  const [prefix, rest] = splitWildcards(pattern);
  if (rest === "") return [prefix];
  const base = await resolvePath(root, prefix, { followTrailing: followLinks, visible });
  const baseStat = await lstat(base.host).catch((err) => {
    throw fsError(err, "failed to walk", prefix);
  });
  if (!isVisible(splitComponents(base.rel), baseStat.isDirectory(), visible)) {
    throw new KilnError("NOT_FOUND", `failed to walk ${JSON.stringify(prefix)}: no such file or directory`);
  }
  const out: string[] = [];
  if (!baseStat.isDirectory()) return out;
  const depth = rest.split("/").length;
  const walk = async (host: string, relFromBase: string, level: number): Promise<void> => {
    for (const name of sortByteOrder(await readdir(host))) {
      const rel = relFromBase === "" ? name : `${relFromBase}/${name}`;
      const treeRel = base.rel === "" ? rel : `${base.rel}/${rel}`;
      const st = await lstat(join(host, name));
      if (visible && !visible(treeRel, st.isDirectory())) continue;
      if (safeMatch(rest, rel)) out.push(treeRel);
      else if (st.isDirectory() && level + 1 < depth) await walk(join(host, name), rel, level + 1);
    }
  };
  await walk(base.host, "", 0);
  return out;
}

function safeMatch(pattern: string, name: string): boolean {
  try {
    return pathMatch(pattern, name);
  } catch {
    return false;
  }
}
