import { type Digest, sha256 } from "@kiln/core";

/**
 * Cache keys (see README "Cache keys"). A key is sha256 of the canonical JSON
 * `{ v: 1, digest, output, deps }` where `digest` is the op's CacheMap digest, `output` the output
 * index and `deps` one entry per input in input order:
 * - fast (definition-based) key: `{ key: <input's own key>, selector? }` for every input;
 * - slow (content-based) key: inputs with `computeDigest` use `{ content: <digest>, selector? }` instead.
 * The two shapes can never collide because the dep entries use different property names.
 */
export type CacheKeyDep =
  | { readonly key: Digest; readonly selector?: string }
  | { readonly content: Digest; readonly selector?: string };

export const CACHE_KEY_VERSION = 1;

export function cacheKey(digest: Digest, output: number, deps: readonly CacheKeyDep[]): Digest {
  return sha256(canonicalJson({ v: CACHE_KEY_VERSION, digest, output, deps }));
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
