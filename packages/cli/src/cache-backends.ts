import type { CacheModules } from "@kiln/builder";
import { ghaCacheModule } from "@kiln/cache-gha";
import { registryCacheModule } from "@kiln/cache-registry";
import { s3CacheModule } from "@kiln/cache-s3";

/**
 * Remote cache backends the CLI offers beyond the built-in `local` (and `inline`), by `--cache-to` /
 * `--cache-from` type. Each entry is a `CacheBackendModule` from its own package, e.g.
 * `registry: registryCacheModule` from `@kiln/cache-registry`; types without an entry fail with a clear
 * "not available in this kiln build" error. `@kiln/cache-s3` loads the AWS SDK only when an s3 cache
 * is actually read or written.
 */
export const CACHE_BACKENDS: CacheModules = {
  registry: registryCacheModule,
  s3: s3CacheModule,
  gha: ghaCacheModule,
};
