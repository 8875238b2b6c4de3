import { createHash } from "node:crypto";
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from "node:fs";
import { join } from "node:path";
import { type Digest, KilnError, type Slicer } from "@kiln/core";
import { sortByteOrder, splitComponents } from "../fileop/paths.js";
import { isAbsent, isVisible, resolvePath } from "../fileop/resolve.js";
import type { SourceTree } from "../fileop/types.js";
import { tarsumHeader } from "./header.js";

/**
 * What identifies an unchanged file without reading it. `path` is the host path; `mtimeMs` is the later
 * of mtime and ctime, because ctime also moves on chown, which changes the digest but not the mtime.
 * A memo must treat the whole key as the identity of the stored digest.
 */
export interface FileDigestKey {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly mode: number;
}

/** Persistent regular-file digests, so a warm re-hash only stats files. */
export interface FileDigestMemo {
  get(key: FileDigestKey): Digest | undefined;
  set(key: FileDigestKey, digest: Digest): void;
}

/** Per-checksum state; the loop runs synchronous fs calls in time slices (see `createSlicer`). */
export interface HashEnv {
  readonly tree: SourceTree;
  readonly memo: FileDigestMemo | undefined;
  readonly slicer: Slicer;
}

const CHUNK = 256 * 1024;
const chunk = Buffer.allocUnsafe(CHUNK);

export function notFound(path: string): KilnError {
  return new KilnError("NOT_FOUND", `failed to compute cache key: ${JSON.stringify(path)}: not found`, {
    hint: "check the path (and .dockerignore, which hides excluded files)",
  });
}

function toDigest(hex: string): Digest {
  return `sha256:${hex}`;
}

/** Digest of an entry's header alone: directories (DIR_HEADER records) and non-regular files. */
export function headerDigest(env: HashEnv, st: Stats, linkname = ""): Digest {
  return toDigest(
    createHash("sha256")
      .update(tarsumHeader(st, linkname, env.tree.ownership))
      .digest("hex"),
  );
}

/** Digest of a non-directory entry: header, plus the bytes for a non-empty regular file. */
export async function entryDigest(env: HashEnv, host: string, st: Stats): Promise<Digest> {
  if (st.isSymbolicLink()) return headerDigest(env, st, readlinkSync(host));
  if (!st.isFile() || st.size === 0) return headerDigest(env, st);
  const key: FileDigestKey = {
    path: host,
    size: st.size,
    mtimeMs: Math.max(st.mtimeMs, st.ctimeMs),
    ino: st.ino,
    mode: st.mode,
  };
  const memoized = env.memo?.get(key);
  if (memoized) return memoized;
  const hash = createHash("sha256").update(tarsumHeader(st, "", env.tree.ownership));
  const fd = openSync(host, "r");
  try {
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      if (n === CHUNK) await env.slicer.pause();
    }
  } finally {
    closeSync(fd);
  }
  const digest = toDigest(hash.digest("hex"));
  env.memo?.set(key, digest);
  return digest;
}

export interface Child {
  readonly name: string;
  readonly host: string;
  readonly rel: string;
  readonly st: Stats;
}

/** Visible children of a directory in byte order of their names. */
export function listChildren(env: HashEnv, host: string, rel: string): Child[] {
  const filter = env.tree.filter;
  const out: Child[] = [];
  for (const name of sortByteOrder(readdirSync(host))) {
    const childHost = join(host, name);
    const childRel = rel === "" ? name : `${rel}/${name}`;
    const st = lstatSync(childHost);
    if (filter && !filter(childRel, st.isDirectory())) continue;
    out.push({ name, host: childHost, rel: childRel, st });
  }
  return out;
}

/**
 * Recursive directory digest (BuildKit's DIR record): sha256 over `"\0"` + the directory's header digest,
 * then for each child in byte order `"\0" + name` + the child's digest (a child directory contributes its
 * recursive digest; symlinks are never followed).
 */
export async function dirDigest(env: HashEnv, host: string, rel: string, st: Stats): Promise<Digest> {
  const hash = createHash("sha256").update("\0").update(headerDigest(env, st));
  for (const child of listChildren(env, host, rel)) {
    const digest = child.st.isDirectory()
      ? await dirDigest(env, child.host, child.rel, child.st)
      : await entryDigest(env, child.host, child.st);
    hash.update(`\0${child.name}`).update(digest);
    await env.slicer.pause();
  }
  return toDigest(hash.digest("hex"));
}

/** Resolves a path in the tree; NOT_FOUND (naming `display`) when missing or filtered out. */
export async function statInTree(env: HashEnv, path: string, followTrailing: boolean, display = path) {
  const res = await resolvePath(env.tree.root, path, { followTrailing, visible: env.tree.filter });
  let st: Stats;
  try {
    st = lstatSync(res.host);
  } catch (err) {
    if (isAbsent(err)) throw notFound(display);
    throw err;
  }
  if (!isVisible(splitComponents(res.rel), st.isDirectory(), env.tree.filter)) throw notFound(display);
  return { ...res, st };
}

/** Digest of one path without patterns: a directory's recursive digest, or the entry's own. */
export async function lazyChecksum(env: HashEnv, path: string, followLinks: boolean): Promise<Digest> {
  const { host, rel, st } = await statInTree(env, path, followLinks);
  return st.isDirectory() ? dirDigest(env, host, rel, st) : entryDigest(env, host, st);
}
