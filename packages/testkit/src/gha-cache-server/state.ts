import { randomUUID } from "node:crypto";

/** One cache entry: immutable once finalized; `blob` names its content in the blob endpoint. */
export interface CacheEntry {
  readonly id: number;
  readonly key: string;
  readonly version: string;
  readonly scope: string;
  readonly blob: string;
  readonly createdAt: Date;
  /** Announced at reservation (v1 `cacheSize`); checked at commit when present. */
  readonly reservedSize?: number;
  size?: number;
  finalized: boolean;
}

/** A stored blob (Azure block blob) plus its staged, uncommitted blocks. */
export interface StoredBlob {
  data: Buffer;
  etag: string;
  lastModified: Date;
}

export interface CacheState {
  readonly entries: CacheEntry[];
  readonly blobs: Map<string, StoredBlob>;
  readonly stagedBlocks: Map<string, Map<string, Buffer>>;
  /** v1 chunk uploads (PATCH with Content-Range), keyed by entry id. */
  readonly chunks: Map<number, { start: number; data: Buffer }[]>;
  /** A reservation, or undefined when the key+version already exists in that scope (409). */
  reserve(scope: string, key: string, version: string, reservedSize?: number): CacheEntry | undefined;
  /**
   * The service's matching: within `version`, scope by scope (in the token's read order), each key
   * exact first and then as a prefix, newest first. Only finalized entries are visible.
   */
  find(scopes: readonly string[], keys: readonly string[], version: string): CacheEntry | undefined;
  putBlob(name: string, data: Buffer): StoredBlob;
}

export function createCacheState(): CacheState {
  const entries: CacheEntry[] = [];
  const blobs = new Map<string, StoredBlob>();
  let nextId = 1;
  let etagSeq = 0;

  return {
    entries,
    blobs,
    stagedBlocks: new Map(),
    chunks: new Map(),
    reserve(scope, key, version, reservedSize) {
      // Immutable entries: a second reservation of the same key+version in a scope conflicts, also
      // while the first one is still uploading.
      if (entries.some((e) => e.scope === scope && e.key === key && e.version === version)) return undefined;
      const entry: CacheEntry = {
        id: nextId++,
        key,
        version,
        scope,
        blob: randomUUID(),
        createdAt: new Date(),
        ...(reservedSize === undefined ? {} : { reservedSize }),
        finalized: false,
      };
      entries.push(entry);
      return entry;
    },
    find(scopes, keys, version) {
      for (const scope of scopes) {
        // Newest first: ids grow with creation time and never tie, unlike millisecond clocks.
        const candidates = entries
          .filter((e) => e.finalized && e.scope === scope && e.version === version)
          .sort((a, b) => b.id - a.id);
        for (const key of keys) {
          const hit = candidates.find((e) => e.key === key) ?? candidates.find((e) => e.key.startsWith(key));
          if (hit) return hit;
        }
      }
      return undefined;
    },
    putBlob(name, data) {
      const blob: StoredBlob = {
        data,
        etag: `"0x8DD${(++etagSeq).toString(16).padStart(11, "0")}"`,
        lastModified: new Date(),
      };
      blobs.set(name, blob);
      return blob;
    },
  };
}
