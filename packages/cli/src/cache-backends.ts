import type { CacheModules } from "@kiln/builder";
import { registryCacheModule } from "@kiln/cache-registry";

/**
 * Remote cache backends the CLI offers beyond the built-in `local` (and `inline`), by `--cache-to` /
 * `--cache-from` type. Each entry is a `CacheBackendModule` from its own package, e.g.
 * `registry: registryCacheModule` from `@kiln/cache-registry`; types without an entry fail with a clear
 * "not available in this kiln build" error.
 */
export const CACHE_BACKENDS: CacheModules = {
  registry: registryCacheModule,
};
