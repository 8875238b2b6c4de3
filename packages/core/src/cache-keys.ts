import { type Digest, sha256 } from "./digest.js";

/**
 * kiln's cache keys, defined on BuildKit's remote-cache graph so that a record read from a remote
 * cache config can be turned into the very keys the solver looks up (docs/architecture.md).
 *
 * - A *record digest* is BuildKit's `sha256("<cacheMapDigest>@<output>")`. A content-hashed input is
 *   its own root record `sha256("<contentDigest>@-1")`, like BuildKit's slow cache keys.
 * - A *cache key* is one record plus, per input in input order, one linked key and its selector:
 *   `sha256(JSON ["kiln.cachekey.v2", record, [[key, selector], …]])`. An empty selector and no
 *   selector are the same (BuildKit omits empty selectors).
 */
export interface CacheKeyLink {
  readonly key: Digest;
  readonly selector?: string;
}

export const CACHE_KEY_SCHEME = "kiln.cachekey.v2";

export function cacheRecordDigest(cacheMapDigest: Digest, output: number): Digest {
  return sha256(`${cacheMapDigest}@${output}`);
}

export function cacheKeyOf(record: Digest, deps: readonly CacheKeyLink[]): Digest {
  return sha256(JSON.stringify([CACHE_KEY_SCHEME, record, deps.map((d) => [d.key, d.selector ?? ""])]));
}

/** The key a content-hashed input contributes: a root record with output -1. */
export function contentCacheKey(content: Digest): Digest {
  return cacheKeyOf(cacheRecordDigest(content, -1), []);
}

/** How a key was built: its record and its links. Remote caches match keys structurally with it. */
export interface CacheKeyDescription {
  readonly record: Digest;
  readonly deps: readonly CacheKeyLink[];
}

/**
 * What the solver learned about the keys of one solved edge (a vertex output): enough to write
 * BuildKit's cache config. `keys` holds the edge's definition key and/or content key, each with the
 * links it was computed from; dependents link to any of them.
 */
export interface CacheKeyInfo {
  readonly key: Digest;
  readonly deps: readonly CacheKeyLink[];
}

export interface CacheGraphEdge<R> {
  readonly record: Digest;
  readonly keys: readonly CacheKeyInfo[];
  /** Vertex digest and name; undefined for the root record of a content-hashed input. */
  readonly vertex?: Digest;
  readonly name?: string;
  /** `false` when the op asked not to export its result (`OpMetadata.exportCache`). */
  readonly exportResult: boolean;
  /** The result, when this job resolved the edge (cache hit or run). */
  readonly result?: R;
}

/** Every keyed edge a solve touched, by each of its keys; `root` lists the result's own keys. */
export interface CacheGraph<R> {
  readonly byKey: ReadonlyMap<Digest, CacheGraphEdge<R>>;
  readonly root: readonly Digest[];
}
