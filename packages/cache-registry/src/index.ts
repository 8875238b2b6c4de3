import type { CacheBackend, CacheBackendContext, CacheBackendModule } from "@kiln/core";
import type { RegistryClient } from "@kiln/registry";
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

/**
 * `--cache-to/--cache-from type=registry,ref=…`. Inside a build the store uses the builder's registry
 * client (`context.registryClient`), so credentials, kiln.toml's TLS and plain-HTTP settings and
 * cached tokens are the ones pulls and pushes use; alone it makes a client from `~/.docker/config.json`.
 */
export const registryCacheModule: CacheBackendModule<ResolvedRegistryCacheOptions> = {
  type: REGISTRY_CACHE_TYPE,
  parseAttrs: (attrs) => parseRegistryAttrs(attrs),
  backend: (options, context?: CacheBackendContext) => {
    const client = registryClientOf(context);
    return registryCache(options, client ? { client } : {});
  },
};

function registryClientOf(context: CacheBackendContext | undefined): RegistryClient | undefined {
  const candidate = context?.registryClient as Partial<RegistryClient> | undefined;
  return typeof candidate?.pushBlob === "function" && typeof candidate.fetchBlob === "function"
    ? (candidate as RegistryClient)
    : undefined;
}
