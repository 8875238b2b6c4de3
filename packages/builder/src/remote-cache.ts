import {
  type CacheModules,
  type CacheSpec,
  createImportingCache,
  createLazyRefFactory,
  defaultCacheModules,
  type ResolvedCacheExport,
  resolveCacheExport,
  resolveCacheImport,
  runCacheExports,
} from "@kiln/cache";
import type { CacheGraph, CallOptions, Ref, ResultCache } from "@kiln/core";
import type { LocalStore } from "./store.js";

/** `--cache-to type=inline` and the `BUILDKIT_INLINE_CACHE` build-arg ask the image exporter, not a store. */
export function wantsInlineCache(cacheTo: readonly CacheSpec[], buildArgs: Readonly<Record<string, string>>) {
  const arg = buildArgs.BUILDKIT_INLINE_CACHE;
  return cacheTo.some((c) => c.type === "inline") || (arg !== undefined && /^(1|true)$/i.test(arg));
}

export interface BuildCaches {
  /** The solver's cache: the local store, then every `--cache-from`. */
  readonly results: ResultCache<Ref>;
  /** Writes every `--cache-to` (except inline); returns response keys (`cache.manifest`). */
  exportAll(graph: CacheGraph<Ref>, o?: CallOptions): Promise<Record<string, string>>;
}

/**
 * Resolves `--cache-from`/`--cache-to` for one build against the backend table: bad types and
 * attributes fail before any step runs; warnings go out once each.
 */
export function prepareBuildCaches(
  store: LocalStore,
  req: { readonly cacheFrom?: readonly CacheSpec[]; readonly cacheTo?: readonly CacheSpec[] },
  modules: CacheModules | undefined,
  warn: (message: string) => void,
): BuildCaches {
  const table = { ...defaultCacheModules(), ...modules };
  const env = process.env;
  const exports: ResolvedCacheExport[] = (req.cacheTo ?? [])
    .filter((c) => c.type !== "inline")
    .map((c) => resolveCacheExport(c, table, env));
  const imports = (req.cacheFrom ?? []).map((c) => resolveCacheImport(c, table, env));
  const lazy = createLazyRefFactory({ refs: store.refs, content: store.content });
  const said = new Set<string>();
  const warnOnce = (message: string) => {
    if (said.has(message)) return;
    said.add(message);
    warn(message);
  };
  const results =
    imports.length > 0 ? createImportingCache(store.results, imports, lazy, warnOnce) : store.results;
  return {
    results,
    async exportAll(graph, o) {
      if (exports.length === 0) return {};
      return runCacheExports(
        exports,
        graph,
        { refs: store.refs, content: store.content, lazy, results },
        warnOnce,
        o,
      );
    },
  };
}
