import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Digest, KilnError } from "@kiln/core";
import Database from "better-sqlite3";

/**
 * SQLite metadata of the local store (WAL mode, so several kiln processes can share one store).
 * Every write is one statement or one transaction, so a crash leaves either the old or the new state.
 * Rows point at snapshots and blobs that are written (and renamed into place) *before* the row, so a
 * row never points at something half-written.
 */
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS refs (
  id TEXT PRIMARY KEY,
  snapshot TEXT,
  parent TEXT,
  description TEXT NOT NULL DEFAULT '',
  blob_digest TEXT,
  blob_size INTEGER,
  blob_media_type TEXT,
  diff_id TEXT,
  created_at INTEGER NOT NULL,
  last_used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
  key TEXT PRIMARY KEY,
  ref_id TEXT NOT NULL,
  vertex TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_ref ON results(ref_id);
CREATE TABLE IF NOT EXISTS layer_chains (
  chain_id TEXT PRIMARY KEY,
  ref_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS file_digests (
  path TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  mtime_ms REAL NOT NULL,
  ino INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  digest TEXT NOT NULL
);
`;

export interface RefRow {
  id: string;
  snapshot: string | null;
  parent: string | null;
  description: string;
  blob_digest: string | null;
  blob_size: number | null;
  blob_media_type: string | null;
  diff_id: string | null;
  created_at: number;
  last_used: number;
}

export interface FileDigestKey {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  mode: number;
}

export interface FileDigestRow {
  size: number;
  mtime_ms: number;
  ino: number;
  mode: number;
  digest: Digest;
}

export interface Metadata {
  readonly path: string;
  getRef(id: string): RefRow | undefined;
  insertRef(row: Omit<RefRow, "last_used">): void;
  setRefBlob(id: string, blob: { digest: Digest; size: number; mediaType: string; diffId: Digest }): void;
  /** Records that a ref was used (for GC ordering); written in one transaction by `flush()`. */
  touchRef(id: string): void;
  flush(): void;
  getResult(key: Digest): { ref_id: string } | undefined;
  putResult(key: Digest, refId: string, vertex: string, description: string): void;
  getChain(chainId: Digest): string | undefined;
  putChain(chainId: Digest, refId: string): void;
  getFileDigest(key: FileDigestKey): Digest | undefined;
  /** Every remembered file digest under a directory (one query instead of one per file). */
  getFileDigestsUnder(dir: string): Map<string, FileDigestRow>;
  putFileDigests(entries: readonly (FileDigestKey & { digest: Digest })[]): void;
  /** Deletes every cache record and ref (keeps file digests); returns the snapshot names to remove. */
  clear(): string[];
  counts(): { refs: number; results: number };
  close(): void;
}

export function openMetadata(root: string): Metadata {
  mkdirSync(root, { recursive: true });
  const path = join(root, "metadata.db");
  let db: Database.Database;
  try {
    db = new Database(path, { timeout: 30_000 });
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec(SCHEMA);
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version === 0) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    else if (version > SCHEMA_VERSION) {
      throw new KilnError(
        "FAILED_PRECONDITION",
        `store ${root} was written by a newer kiln (schema ${version})`,
        {
          hint: "upgrade kiln, or use another --root",
        },
      );
    }
  } catch (cause) {
    if (cause instanceof KilnError) throw cause;
    throw new KilnError("UNAVAILABLE", `cannot open the store metadata ${path}`, {
      cause,
      hint: "check that the --root directory is writable and not on a network filesystem",
    });
  }

  const stmt = {
    getRef: db.prepare("SELECT * FROM refs WHERE id = ?"),
    insertRef: db.prepare(
      `INSERT OR IGNORE INTO refs (id, snapshot, parent, description, blob_digest, blob_size, blob_media_type, diff_id, created_at, last_used)
       VALUES (@id, @snapshot, @parent, @description, @blob_digest, @blob_size, @blob_media_type, @diff_id, @created_at, @created_at)`,
    ),
    setRefBlob: db.prepare(
      "UPDATE refs SET blob_digest = ?, blob_size = ?, blob_media_type = ?, diff_id = ? WHERE id = ? AND blob_digest IS NULL",
    ),
    touchRef: db.prepare("UPDATE refs SET last_used = ? WHERE id = ?"),
    getResult: db.prepare("SELECT ref_id FROM results WHERE key = ?"),
    putResult: db.prepare(
      "INSERT OR REPLACE INTO results (key, ref_id, vertex, description, created_at) VALUES (?, ?, ?, ?, ?)",
    ),
    getChain: db.prepare("SELECT ref_id FROM layer_chains WHERE chain_id = ?"),
    putChain: db.prepare("INSERT OR IGNORE INTO layer_chains (chain_id, ref_id) VALUES (?, ?)"),
    getFile: db.prepare("SELECT * FROM file_digests WHERE path = ?"),
    getFilesUnder: db
      .prepare("SELECT path, size, mtime_ms, ino, mode, digest FROM file_digests WHERE path > ? AND path < ?")
      .raw(true),
    putFile: db.prepare(
      "INSERT OR REPLACE INTO file_digests (path, size, mtime_ms, ino, mode, digest) VALUES (@path, @size, @mtimeMs, @ino, @mode, @digest)",
    ),
  };
  const touched = new Set<string>();
  const touchAll = db.transaction((ids: readonly string[], now: number) => {
    for (const id of ids) stmt.touchRef.run(now, id);
  });
  const flush = () => {
    if (touched.size === 0) return;
    const ids = [...touched];
    touched.clear();
    touchAll(ids, Date.now());
  };
  const putFiles = db.transaction((entries: readonly (FileDigestKey & { digest: Digest })[]) => {
    for (const e of entries) stmt.putFile.run(e);
  });
  const clear = db.transaction((): string[] => {
    const snapshots = (
      db.prepare("SELECT snapshot FROM refs WHERE snapshot IS NOT NULL").all() as { snapshot: string }[]
    ).map((r) => r.snapshot);
    db.exec("DELETE FROM results; DELETE FROM layer_chains; DELETE FROM refs;");
    return snapshots;
  });

  return {
    path,
    getRef: (id) => stmt.getRef.get(id) as RefRow | undefined,
    insertRef: (row) => void stmt.insertRef.run(row),
    setRefBlob: (id, b) => void stmt.setRefBlob.run(b.digest, b.size, b.mediaType, b.diffId, id),
    touchRef: (id) => void touched.add(id),
    flush,
    getResult: (key) => stmt.getResult.get(key) as { ref_id: string } | undefined,
    putResult: (key, refId, vertex, description) =>
      void stmt.putResult.run(key, refId, vertex, description, Date.now()),
    getChain: (chainId) => (stmt.getChain.get(chainId) as { ref_id: string } | undefined)?.ref_id,
    putChain: (chainId, refId) => void stmt.putChain.run(chainId, refId),
    getFileDigest(key) {
      const row = stmt.getFile.get(key.path) as FileDigestRow | undefined;
      return row && sameFile(row, key) ? row.digest : undefined;
    },
    getFileDigestsUnder(dir) {
      const prefix = dir.endsWith("/") ? dir : `${dir}/`;
      // '0' is the character after '/', so the range holds exactly the paths below `prefix`.
      // Raw rows (arrays) are several times cheaper than row objects for tens of thousands of files.
      type Raw = [string, number, number, number, number, Digest];
      const rows = stmt.getFilesUnder.all(prefix, `${prefix.slice(0, -1)}0`) as Raw[];
      const out = new Map<string, FileDigestRow>();
      for (const [path, size, mtime_ms, ino, mode, digest] of rows)
        out.set(path, { size, mtime_ms, ino, mode, digest });
      return out;
    },
    putFileDigests: (entries) => putFiles(entries),
    clear: () => clear(),
    counts: () => ({
      refs: (db.prepare("SELECT count(*) AS n FROM refs").get() as { n: number }).n,
      results: (db.prepare("SELECT count(*) AS n FROM results").get() as { n: number }).n,
    }),
    close() {
      flush();
      db.close();
    },
  };
}

export function sameFile(row: FileDigestRow, key: FileDigestKey): boolean {
  return (
    row.size === key.size && row.mtime_ms === key.mtimeMs && row.ino === key.ino && row.mode === key.mode
  );
}
