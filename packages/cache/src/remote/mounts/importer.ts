import type { BlobStore, CallOptions, Digest, ProgressWriter } from "@kiln/core";
import { cacheStep } from "../progress.js";
import type { CacheMountOptions } from "./attrs.js";
import { mountsPointerName, readMountsPointer } from "./export.js";
import type { MountsIndex } from "./format.js";
import { restoreMount } from "./restore.js";

export interface CacheMountImportSource {
  readonly store: BlobStore;
  /** The BuildKit index's pointer name; the mounts are read from `mountsPointerName(name)`. */
  readonly name: string;
  readonly label: string;
  readonly options: CacheMountOptions;
}

export interface CacheMountImporter {
  /**
   * Merges the imported contents of cache `key` into `dir`, once per key per build (later and
   * concurrent callers wait for the first). Never throws but for cancellation: failures warn.
   */
  restore(key: Digest, id: string, dir: string, o?: CallOptions): Promise<void>;
}

/**
 * Lazy import of cache mounts: nothing is read until a step that uses a cache mount runs; then the
 * pointer and index (once per source), the mount's tree and the blobs of files missing locally.
 * The first source that has the mount is used.
 */
export function createCacheMountImporter(
  sources: readonly CacheMountImportSource[],
  warn: (message: string) => void,
  progress?: ProgressWriter,
): CacheMountImporter {
  const indexes = new Map<CacheMountImportSource, Promise<MountsIndex | undefined>>();
  const restores = new Map<Digest, Promise<void>>();
  const indexOf = (src: CacheMountImportSource, o: CallOptions) => {
    let promise = indexes.get(src);
    if (!promise) {
      promise = (async () => {
        const pointer = await src.store.readPointer(mountsPointerName(src.name), o);
        return pointer ? readMountsPointer(src.store, pointer.data, o) : undefined;
      })().catch((err: unknown) => {
        warn(`cache mounts import ${src.label} failed, continuing without it: ${messageOf(err)}`);
        return undefined;
      });
      indexes.set(src, promise);
    }
    return promise;
  };

  async function restoreOnce(key: Digest, id: string, dir: string, o: CallOptions) {
    for (const src of sources) {
      if (src.options.ids && !src.options.ids.has(id)) continue;
      const entry = (await indexOf(src, o))?.mounts.find((m) => m.key === key);
      if (!entry) continue;
      const step = cacheStep(progress, `importing cache mount ${id} from ${src.label}`);
      try {
        const r = await restoreMount(src.store, entry.tree, dir, o);
        step.status(`${r.restored} restored, ${r.kept} kept (already here), ${r.blobsRead} blobs read`);
        step.done();
      } catch (err) {
        if (o.signal?.aborted) throw err;
        step.status(`failed: ${messageOf(err)}`);
        step.done();
        warn(
          `cache mount ${JSON.stringify(id)} import from ${src.label} failed, the step runs with what was restored: ${messageOf(err)}`,
        );
      }
      return;
    }
  }

  return {
    restore(key, id, dir, o = {}) {
      let promise = restores.get(key);
      if (!promise) {
        promise = restoreOnce(key, id, dir, o);
        restores.set(key, promise);
      }
      return promise;
    },
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
