import {
  type CacheModules,
  type CacheSpec,
  createImportingCache,
  createLazyRefFactory,
  defaultCacheModules,
  INLINE_CACHE_CONFIG_KEY,
  inlineCacheValue,
  type ResolvedCacheExport,
  resolveCacheExport,
  resolveCacheImport,
  runCacheExports,
} from "@kiln/cache";
import type { CacheGraph, CallOptions, ProgressWriter, Ref, ResultCache } from "@kiln/core";
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
  /** The image config with an inline cache added, when the build asked for one (else as given). */
  withInlineCache<C extends object>(config: C, graph: CacheGraph<Ref>, o?: CallOptions): Promise<C>;
  /** Closes the stores this build created (not the ones a `CacheSpec.store` handed over). */
  close(): Promise<void>;
}

/**
 * Resolves `--cache-from`/`--cache-to` for one build against the backend table: bad types and
 * attributes fail before any step runs; warnings go out once each.
 */
export function prepareBuildCaches(
  store: LocalStore,
  req: {
    readonly cacheFrom?: readonly CacheSpec[];
    readonly cacheTo?: readonly CacheSpec[];
    readonly buildArgs?: Readonly<Record<string, string>>;
  },
  modules: CacheModules | undefined,
  warn: (message: string) => void,
  o: CallOptions & { progress?: ProgressWriter } = {},
): BuildCaches {
  const table = { ...defaultCacheModules(), ...modules };
  const env = process.env;
  const said = new Set<string>();
  const warnOnce = (message: string) => {
    if (said.has(message)) return;
    said.add(message);
    warn(message);
  };
  // Backends' own warnings (a throttled service, a skipped upload) belong to the build's output too.
  const context = { warn: warnOnce };
  const exports: ResolvedCacheExport[] = (req.cacheTo ?? [])
    .filter((c) => c.type !== "inline")
    .map((c) => resolveCacheExport(c, table, env, context));
  const imports = (req.cacheFrom ?? []).map((c) => resolveCacheImport(c, table, env, context));
  const lazy = createLazyRefFactory({ refs: store.refs, content: store.content });
  const results =
    imports.length > 0 ? createImportingCache(store.results, imports, lazy, warnOnce, o) : store.results;
  const inline = wantsInlineCache(req.cacheTo ?? [], req.buildArgs ?? {});
  // Stores a CacheSpec handed over belong to the caller; the ones built from attributes are ours.
  const handedOver = new Set([...(req.cacheTo ?? []), ...(req.cacheFrom ?? [])].map((c) => c.store));
  const created = [...exports, ...imports].map((c) => c.store).filter((store) => !handedOver.has(store));
  return {
    results,
    async close() {
      await Promise.allSettled(created.map((store) => store.close?.()));
    },
    async withInlineCache(config, graph, o) {
      if (!inline) return config;
      try {
        const value = await inlineCacheValue(
          graph,
          { refs: store.refs, loadResult: (key, lo) => results.load(key, lo) },
          o,
        );
        return value ? { ...config, [INLINE_CACHE_CONFIG_KEY]: value } : config;
      } catch (err) {
        if (o?.signal?.aborted) throw err;
        warnOnce(
          `inline cache export failed, the image has none: ${err instanceof Error ? err.message : String(err)}`,
        );
        return config;
      }
    },
    async exportAll(graph, eo) {
      if (exports.length === 0) return {};
      return runCacheExports(
        exports,
        graph,
        { refs: store.refs, content: store.content, lazy, results },
        warnOnce,
        { ...eo, ...(o.progress ? { progress: o.progress } : {}) },
      );
    },
  };
}
