import { type Descriptor, type Digest, isDigest, KilnError, sha256 } from "@kiln/core";

/**
 * The format of exported `RUN --mount=type=cache` contents. It lives beside the BuildKit cache index,
 * never inside it: a pointer of its own (`<name>-cache-mounts`) holds an OCI manifest whose config is
 * the mounts index and whose layers list every blob, so registries keep them (GC follows manifests).
 *
 *   pointer ─▶ index { mounts: [{ key, id, tree, blobs }] }
 *                         tree { entries: [{ path, type, mode, uid, gid, mtimeMs, digest, blob }] }
 *                         blobs: packs (gzip tar of small files, member names = content digests)
 *                                or one raw blob per large file (digest = the file's digest)
 *
 * Everything is content-addressed, so an export uploads only blobs the store lacks.
 */
export const MOUNTS_INDEX_MEDIA_TYPE = "application/vnd.kiln.cache-mounts.index.v1+json";
export const MOUNT_TREE_MEDIA_TYPE = "application/vnd.kiln.cache-mount.tree.v1+json";
export const MOUNT_PACK_MEDIA_TYPE = "application/vnd.kiln.cache-mount.pack.v1.tar+gzip";
export const MOUNT_FILE_MEDIA_TYPE = "application/vnd.kiln.cache-mount.file.v1";

/** Files up to this size are packed with their neighbours; larger ones are a blob each. */
export const SMALL_FILE_MAX = 1024 * 1024;
/** A pack closes before its contents pass this size... */
export const PACK_MAX_BYTES = 8 * 1024 * 1024;
/** ...or after a file whose path hash says so: 1 in this many, so ~this many files per pack. */
export const PACK_CUT_EVERY = 256;

export interface MountTreeEntry {
  /** Relative to the mount, `/`-separated; never empty, absolute, `.` or `..`. */
  readonly path: string;
  readonly type: "dir" | "file" | "symlink";
  /** Permission bits (`st_mode & 0o7777`). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeMs: number;
  readonly size?: number;
  readonly digest?: Digest;
  /** Index into the tree's `blobs`; absent for empty files. */
  readonly blob?: number;
  readonly target?: string;
}

export interface MountTree {
  readonly mediaType: typeof MOUNT_TREE_MEDIA_TYPE;
  readonly id: string;
  /** Sorted by path, so a directory always comes before what it holds. */
  readonly entries: readonly MountTreeEntry[];
  readonly blobs: readonly Descriptor[];
}

export interface MountIndexEntry {
  /** Identity of the cache: its `id`, plus its seed (`from=`) when it has one. */
  readonly key: Digest;
  readonly id: string;
  readonly tree: Descriptor;
  readonly blobs: readonly Descriptor[];
  readonly files: number;
  /** Bytes of file content. */
  readonly size: number;
  readonly createdAt: string;
}

export interface MountsIndex {
  readonly mediaType: typeof MOUNTS_INDEX_MEDIA_TYPE;
  readonly mounts: readonly MountIndexEntry[];
}

/** A cache mount's portable identity: the same Dockerfile gives the same key on every machine. */
export function cacheMountKey(id: string, seed?: string): Digest {
  return sha256(JSON.stringify(seed ? { id, seed } : { id }));
}

/** Whether a file closes its pack: a property of its path alone, so cuts survive edits elsewhere. */
export function cutsPackAfter(path: string): boolean {
  return Number.parseInt(sha256(path).slice(7, 15), 16) % PACK_CUT_EVERY === 0;
}

/**
 * Groups small files (in path order) into packs. Cut points depend on paths, not on positions, so
 * adding, removing or changing a file changes its own pack only (and, past the byte cap, the packs
 * up to the next path cut).
 */
export function planPacks<T extends { path: string; size: number }>(files: readonly T[]): T[][] {
  const packs: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const file of files) {
    if (current.length > 0 && bytes + file.size > PACK_MAX_BYTES) {
      packs.push(current);
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += file.size;
    if (cutsPackAfter(file.path)) {
      packs.push(current);
      current = [];
      bytes = 0;
    }
  }
  if (current.length > 0) packs.push(current);
  return packs;
}

export function parseMountsIndex(bytes: Uint8Array): MountsIndex {
  const doc = parseJson(bytes, "cache mounts index");
  if (doc.mediaType !== MOUNTS_INDEX_MEDIA_TYPE || !Array.isArray(doc.mounts)) {
    throw invalid("cache mounts index", `is not a ${MOUNTS_INDEX_MEDIA_TYPE} document`);
  }
  const mounts = (doc.mounts as Record<string, unknown>[]).filter(
    (m) => isDigest(m.key) && typeof m.id === "string" && isDescriptor(m.tree) && Array.isArray(m.blobs),
  ) as unknown as MountIndexEntry[];
  for (const m of mounts) {
    if (!m.blobs.every(isDescriptor)) throw invalid("cache mounts index", `mount ${m.id} lists a bad blob`);
  }
  return { mediaType: MOUNTS_INDEX_MEDIA_TYPE, mounts };
}

/** Parses and checks a tree: every path is relative and clean, every blob reference exists. */
export function parseMountTree(bytes: Uint8Array): MountTree {
  const doc = parseJson(bytes, "cache mount tree");
  if (doc.mediaType !== MOUNT_TREE_MEDIA_TYPE || !Array.isArray(doc.entries) || !Array.isArray(doc.blobs)) {
    throw invalid("cache mount tree", `is not a ${MOUNT_TREE_MEDIA_TYPE} document`);
  }
  const blobs = doc.blobs as Descriptor[];
  if (!blobs.every(isDescriptor)) throw invalid("cache mount tree", "lists a bad blob");
  const entries = doc.entries as MountTreeEntry[];
  for (const e of entries) {
    const where = `entry ${JSON.stringify(e?.path)}`;
    if (typeof e?.path !== "string" || !isCleanPath(e.path))
      throw invalid("cache mount tree", `${where}: bad path`);
    if (![e.mode, e.uid, e.gid, e.mtimeMs].every((n) => Number.isFinite(n) && n >= 0)) {
      throw invalid("cache mount tree", `${where}: bad mode, owner or time`);
    }
    if (e.type === "file") {
      const sized = Number.isInteger(e.size) && (e.size ?? -1) >= 0 && isDigest(e.digest);
      const linked = e.blob === undefined ? e.size === 0 : blobs[e.blob] !== undefined;
      if (!sized || !linked) throw invalid("cache mount tree", `${where}: bad file content reference`);
    } else if (e.type === "symlink") {
      if (typeof e.target !== "string" || e.target === "")
        throw invalid("cache mount tree", `${where}: bad link`);
    } else if (e.type !== "dir") throw invalid("cache mount tree", `${where}: unknown type`);
  }
  return { mediaType: MOUNT_TREE_MEDIA_TYPE, id: String(doc.id ?? ""), entries, blobs };
}

export function isCleanPath(path: string): boolean {
  if (path === "" || path.startsWith("/") || path.includes("\0")) return false;
  return path.split("/").every((s) => s !== "" && s !== "." && s !== "..");
}

// --- Internal helpers ---

function isDescriptor(v: unknown): v is Descriptor {
  const d = v as Descriptor | undefined;
  return (
    typeof d === "object" &&
    d !== null &&
    typeof d.mediaType === "string" &&
    isDigest(d.digest) &&
    Number.isInteger(d.size) &&
    d.size >= 0
  );
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const doc: unknown = JSON.parse(Buffer.from(bytes).toString("utf8"));
    if (typeof doc === "object" && doc !== null && !Array.isArray(doc)) return doc as Record<string, unknown>;
  } catch {}
  throw invalid(what, "is not a JSON object");
}

function invalid(what: string, detail: string): KilnError {
  return new KilnError("INVALID_ARGUMENT", `${what} ${detail}`, {
    hint: "the cache was not written by a compatible kiln; export it again",
  });
}
