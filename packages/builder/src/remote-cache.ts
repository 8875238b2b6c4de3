import type { Readable } from "node:stream";
import {
  type CacheModules,
  type CacheMountSource,
  type CacheSpec,
  createCacheMountImporter,
  createImportingCache,
  createLazyRefFactory,
  defaultCacheModules,
  INLINE_CACHE_CONFIG_KEY,
  inlineCacheValue,
  type ResolvedCacheExport,
  type ResolvedCacheImport,
  resolveCacheExport,
  resolveCacheImport,
  runCacheExports,
} from "@kiln/cache";
import type {
  CacheBackendContext,
  CacheGraph,
  CallOptions,
  Digest,
  Layer,
  ProgressWriter,
  Ref,
  ResultCache,
} from "@kiln/core";
import { parseRegistryRef } from "@kiln/registry";
import { acquireCacheMount } from "./ops/cache-mounts.js";
import type { CacheMountHooks, CacheMountUse } from "./ops/types.js";
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
  /** Repositories of `--cache-from type=registry` sources, where imported layers can be mounted from. */
  readonly registrySources: readonly { readonly host: string; readonly repository: string }[];
  /** Streams a layer of an imported result from its cache (undefined: no import has it). */
  openRemote(layer: Layer, o?: CallOptions): Promise<Readable | undefined>;
  /** Set when a `--cache-to`/`--cache-from` says `cache-mounts=true`: RUN steps report their cache mounts. */
  readonly cacheMounts?: CacheMountHooks;
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
  context: CacheBackendContext = {},
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
  const backendContext: CacheBackendContext = { ...context, warn: warnOnce };
  const exports: ResolvedCacheExport[] = (req.cacheTo ?? [])
    .filter((c) => c.type !== "inline")
    .map((c) => resolveCacheExport(c, table, env, backendContext));
  const imports = (req.cacheFrom ?? []).map((c) => resolveCacheImport(c, table, env, backendContext));
  const lazy = createLazyRefFactory({ refs: store.refs, content: store.content });
  const results =
    imports.length > 0 ? createImportingCache(store.results, imports, lazy, warnOnce, o) : store.results;
  const inline = wantsInlineCache(req.cacheTo ?? [], req.buildArgs ?? {});
  if ((req.cacheTo ?? []).some((c) => c.type === "inline" && c.attrs["cache-mounts"] !== undefined)) {
    // The image config has no room for directories of files; a store-backed cache does.
    warnOnce(
      "cache type=inline cannot carry cache mounts: cache-mounts is ignored (use a registry or local cache)",
    );
  }
  const cacheMounts = cacheMountHooks(store, exports, imports, warnOnce, o.progress);
  // Stores a CacheSpec handed over belong to the caller; the ones built from attributes are ours.
  const handedOver = new Set([...(req.cacheTo ?? []), ...(req.cacheFrom ?? [])].map((c) => c.store));
  const created = [...exports, ...imports].map((c) => c.store).filter((store) => !handedOver.has(store));
  return {
    results,
    registrySources: registrySourcesOf(req.cacheFrom ?? []),
    openRemote: (layer, ro) => lazy.open(layer, ro),
    ...(cacheMounts ? { cacheMounts: cacheMounts.hooks } : {}),
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
        {
          refs: store.refs,
          content: store.content,
          lazy,
          results,
          ...(cacheMounts ? { cacheMounts: cacheMounts.sources } : {}),
        },
        warnOnce,
        { ...eo, ...(o.progress ? { progress: o.progress } : {}) },
      );
    },
  };
}

function registrySourcesOf(cacheFrom: readonly CacheSpec[]): { host: string; repository: string }[] {
  return cacheFrom.flatMap((c) => {
    if (c.type !== "registry" || !c.attrs.ref) return [];
    try {
      const { host, repository } = parseRegistryRef(c.attrs.ref);
      return [{ host, repository }];
    } catch {
      return []; // a ref that does not parse gives nothing to mount from
    }
  });
}

/**
 * Cache mounts for `cache-mounts=true`: each one a step uses is remembered for the exports, and, on
 * its first use in the build, filled from the imports (with its lease held, so `locked` users wait).
 */
function cacheMountHooks(
  store: LocalStore,
  exports: readonly ResolvedCacheExport[],
  imports: readonly ResolvedCacheImport[],
  warn: (message: string) => void,
  progress: ProgressWriter | undefined,
): { hooks: CacheMountHooks; sources: () => CacheMountSource[] } | undefined {
  const importing = imports.flatMap((imp) =>
    imp.cacheMounts ? [{ store: imp.store, name: imp.name, label: imp.label, options: imp.cacheMounts }] : [],
  );
  if (importing.length === 0 && !exports.some((e) => e.cacheMounts)) return undefined;
  const importer = importing.length > 0 ? createCacheMountImporter(importing, warn, progress) : undefined;
  const used = new Map<Digest, CacheMountUse>();
  return {
    hooks: {
      async using(use, o) {
        if (!used.has(use.key)) used.set(use.key, use);
        await importer?.restore(use.key, use.id, use.path, o);
      },
    },
    sources: () =>
      [...used.values()].map((use) => ({
        key: use.key,
        id: use.id,
        // Read under the mount's own rules: a `locked` cache is read holding its lock.
        async open(o) {
          const sharing = use.sharing === "locked" ? "locked" : "shared";
          const { lease } = await acquireCacheMount(store.root, use.localKey, sharing, o);
          return lease;
        },
      })),
  };
}
