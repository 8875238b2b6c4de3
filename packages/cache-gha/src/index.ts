import type { CacheBackend, CacheBackendModule } from "@kiln/core";
import { parseGhaAttrs } from "./attrs.js";
import type { GhaCacheOptions } from "./options.js";
import { createGhaBlobStore } from "./store.js";

export { parseByteSize, parseGhaAttrs, parseGoDuration } from "./attrs.js";
export { blobKey, CACHE_VERSION, indexKey, type TokenScopes, tokenScopes } from "./keys.js";
export {
  DEFAULT_RATE_LIMIT,
  DEFAULT_SCOPE,
  DEFAULT_SIZE_BUDGET,
  DEFAULT_TIMEOUT_MS,
  type GhaCacheOptions,
  type GhaCacheTuning,
} from "./options.js";
export { createGhaBlobStore } from "./store.js";

/** `type=gha` as a CacheBackend: `create()` does no I/O; the store connects on first use. */
export function ghaCache(options: GhaCacheOptions): CacheBackend<GhaCacheOptions> {
  // BuildKit's gha exporter names its index entries after the scope (`index-<scope>-1-…`).
  return { type: "gha", options, pointerNames: [options.scope], create: () => createGhaBlobStore(options) };
}

export const ghaCacheModule: CacheBackendModule<GhaCacheOptions> = {
  type: "gha",
  parseAttrs: parseGhaAttrs,
  // Throttling and size-budget warnings go to the build's output unless the options name a receiver.
  backend: (options, context) =>
    ghaCache(context?.warn && !options.onWarning ? { ...options, onWarning: context.warn } : options),
};
