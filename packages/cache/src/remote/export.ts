import type { CacheGraph, CallOptions, ContentStore, ProgressWriter, Ref, ResultCache } from "@kiln/core";
import { KilnError } from "@kiln/core";
import type { LazyRefFactory } from "../lazy-ref.js";
import type { RefManager } from "../refs.js";
import { chainsFromGraph } from "./graph-chains.js";
import { type CacheMountSource, exportCacheMounts } from "./mounts/export.js";
import { cacheStep } from "./progress.js";
import type { ResolvedCacheExport } from "./session.js";
import { writeCache } from "./write.js";

export interface CacheExportDeps {
  readonly refs: RefManager;
  readonly content: ContentStore;
  readonly lazy: LazyRefFactory;
  readonly results: ResultCache<Ref>;
  /** The cache mounts the build's steps used, for exports with `cache-mounts=true`. */
  readonly cacheMounts?: () => readonly CacheMountSource[];
}

/**
 * Runs every `--cache-to` after the build. A failing export warns (once, naming the cache) and the
 * build succeeds, unless that entry said `ignore-error=false`. Returns BuildKit's `cache.manifest`
 * response key (the last export's manifest descriptor, as JSON).
 */
export async function runCacheExports(
  exports: readonly ResolvedCacheExport[],
  graph: CacheGraph<Ref>,
  deps: CacheExportDeps,
  warn: (message: string) => void,
  o?: CallOptions & { progress?: ProgressWriter },
): Promise<Record<string, string>> {
  const response: Record<string, string> = {};
  for (const exp of exports) {
    for (const w of exp.warnings) warn(w);
    const step = cacheStep(o?.progress, `exporting cache to ${exp.label}`);
    try {
      step.status("preparing build cache for export");
      const chains = await chainsFromGraph(
        graph,
        { mode: exp.mode, refs: deps.refs, loadResult: (key, lo) => deps.results.load(key, lo) },
        o,
      );
      if (chains.size === 0) {
        warn(`cache type=${exp.type}: nothing to export (the result has no cache key)`);
      }
      const ours = chains.marshal();
      for (const name of chains.size === 0 ? [] : exp.names) {
        const written = await writeCache(ours, {
          store: exp.store,
          name,
          layout: exp.layout,
          ...(exp.touchAfterMs !== undefined ? { touchAfterMs: exp.touchAfterMs } : {}),
          ...(exp.uploadParallelism !== undefined ? { parallelism: exp.uploadParallelism } : {}),
          ...(o?.signal ? { signal: o.signal } : {}),
          openBlob: async (layer, lo) => {
            step.status(`writing layer ${layer.blob.digest}`);
            if (await deps.content.info(layer.blob.digest, lo))
              return deps.content.read(layer.blob.digest, lo);
            const remote = await deps.lazy.open(layer, lo);
            if (remote) return remote;
            throw new KilnError(
              "NOT_FOUND",
              `layer ${layer.blob.digest} is neither local nor in an imported cache`,
            );
          },
        });
        step.status(`writing cache manifest ${written.descriptor.digest} (${written.records} records)`);
        response["cache.manifest"] = JSON.stringify(written.descriptor);
      }
      if (exp.cacheMounts) {
        const wanted = exp.cacheMounts.ids;
        const mounts = (deps.cacheMounts?.() ?? []).filter((m) => !wanted || wanted.has(m.id));
        for (const name of mounts.length > 0 ? exp.names : []) {
          const r = await exportCacheMounts(mounts, {
            store: exp.store,
            name,
            maxSize: exp.cacheMounts.maxSize,
            warn,
            status: (text) => step.status(text),
            ...(o?.signal ? { signal: o.signal } : {}),
          });
          step.status(
            `cache mounts: ${r.exported} exported (${r.bytes} bytes), ${r.uploaded} blobs uploaded`,
          );
        }
      }
      step.done();
    } catch (err) {
      if (!exp.ignoreError || o?.signal?.aborted) {
        step.done(messageOf(err));
        throw err;
      }
      // Not an error of the build: the step ends normally and the warning says what happened.
      step.status(`failed: ${messageOf(err)}`);
      step.done();
      warn(`cache export type=${exp.type} failed, the build result is unaffected: ${messageOf(err)}`);
    }
  }
  return response;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
