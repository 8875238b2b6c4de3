export { GENERIC_EXPORT_ATTRS, type LocalCacheOptions, localCacheModule, pointerNames } from "./backends.js";
export {
  CACHE_CONFIG_MEDIA_TYPE,
  type CacheConfig,
  type CacheInput,
  type CacheLayer,
  type CacheRecord,
  type CacheResult,
  type ChainedResult,
  layerChain,
  parseCacheConfig,
  serializeCacheConfig,
} from "./cache-config.js";
export {
  type CacheChains,
  type ChainLink,
  type ChainResult,
  createCacheChains,
  sortConfig,
} from "./chains.js";
export { type CacheExportDeps, runCacheExports } from "./export.js";
export { type CacheExportMode, chainsFromGraph } from "./graph-chains.js";
export {
  CREATED_AT_ANNOTATION,
  type ImportedCache,
  INLINE_CACHE_CONFIG_KEY,
  indexCacheConfig,
  readCacheImport,
  UNCOMPRESSED_ANNOTATION,
} from "./import.js";
export { inlineCacheValue } from "./inline.js";
export { createLocalBlobStore, REF_NAME_ANNOTATION } from "./local-store.js";
export * from "./mounts/index.js";
export {
  type CacheModules,
  type CacheSpec,
  createImportingCache,
  defaultCacheModules,
  type ResolvedCacheExport,
  type ResolvedCacheImport,
  resolveCacheExport,
  resolveCacheImport,
} from "./session.js";
export { type CacheLayout, type WriteCacheResult, writeCache } from "./write.js";
