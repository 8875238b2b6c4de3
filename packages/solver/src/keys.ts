import { type CacheKeyLink, cacheKeyOf, cacheRecordDigest, type Digest } from "@kiln/core";

/**
 * Cache keys (see README "Cache keys"): BuildKit's record digest `sha256("<digest>@<output>")` plus one
 * link per input, `{ key, selector? }`. A fast (definition) key links every input's own key; a slow
 * (content) key links `contentCacheKey(<content digest>)` for inputs with `computeDigest`.
 */
export type CacheKeyDep = CacheKeyLink;

export function cacheKey(digest: Digest, output: number, deps: readonly CacheKeyDep[]): Digest {
  return cacheKeyOf(cacheRecordDigest(digest, output), deps);
}

/** JSON with object keys sorted and `undefined` properties dropped, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (value === undefined || typeof value === "function" || typeof value === "symbol") return "null";
    if (typeof value === "number" && !Number.isFinite(value))
      throw new TypeError("non-finite number in cache key");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}
