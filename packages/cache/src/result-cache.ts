import type { Digest, Ref, ResultCache } from "@kiln/core";
import { isLazyRef } from "./lazy-ref.js";
import type { Metadata } from "./metadata.js";
import type { RefManager } from "./refs.js";

/**
 * The solver's persistent cache over the store metadata: cache key → ref. A key whose ref or snapshot
 * has gone (pruned, or lost in a crash) is a miss, never an error.
 */
export function createResultCache(metadata: Metadata, refs: RefManager): ResultCache<Ref> {
  return {
    async load(key: Digest) {
      const row = metadata.getResult(key);
      if (!row) return undefined;
      try {
        return refs.get(row.ref_id);
      } catch {
        return undefined;
      }
    },
    async save(key, result, info) {
      // Directory refs are the live build context: there is nothing in the store to point at.
      if ("directory" in result) return;
      // A lazy ref (from an imported cache) has no row until it is materialized; the importing cache
      // files the materialized ref then.
      if (isLazyRef(result)) return;
      metadata.putResult(key, result.id, info.vertex, info.description);
    },
  };
}
