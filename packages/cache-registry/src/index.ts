import type { CacheBackend, CacheBackendModule } from "@kiln/core";
import {
  parseRegistryAttrs,
  REGISTRY_CACHE_TYPE,
  type RegistryCacheOptions,
  type ResolvedRegistryCacheOptions,
  resolveRegistryOptions,
} from "./options.js";
import { createRegistryBlobStore, type RegistryStoreConnection } from "./store.js";

export {
  type CacheCompression,
  type CacheCompressionOptions,
  parseRegistryAttrs,
  REGISTRY_CACHE_TYPE,
  type RegistryCacheOptions,
  type ResolvedRegistryCacheOptions,
  resolveRegistryOptions,
} from "./options.js";
export { createRegistryBlobStore, type RegistryStoreConnection } from "./store.js";

/** A registry cache backend with its defaults filled in; `create()` connects lazily. */
export interface RegistryCacheBackend extends CacheBackend<ResolvedRegistryCacheOptions> {
  /** The pointer the cache is written under and imported from: the ref's tag. */
  readonly pointerNames: readonly string[];
}

/**
 * `createBuilder({ caches: [registryCache({ ref: "ghcr.io/acme/app:buildcache" })] })`. Credentials
 * come from `~/.docker/config.json` (and its credential helpers) unless `connection` says otherwise.
 */
export function registryCache(
  options: RegistryCacheOptions,
  connection: RegistryStoreConnection = {},
): RegistryCacheBackend {
  const resolved = resolveRegistryOptions(options);
  return {
    type: REGISTRY_CACHE_TYPE,
    options: resolved,
    pointerNames: [resolved.tag],
    create: () => createRegistryBlobStore(resolved, connection),
  };
}

/** `--cache-to/--cache-from type=registry,ref=…` */
export const registryCacheModule: CacheBackendModule<ResolvedRegistryCacheOptions> = {
  type: REGISTRY_CACHE_TYPE,
  parseAttrs: (attrs) => parseRegistryAttrs(attrs),
  backend: (options) => registryCache(options),
};
