import { Readable } from "node:stream";
import {
  type BlobStore,
  type CallOptions,
  type Descriptor,
  type Digest,
  KilnError,
  type Layer,
  MediaType,
  sha256,
} from "@kiln/core";
import pLimit from "p-limit";
import { CACHE_CONFIG_MEDIA_TYPE, type CacheConfig, serializeCacheConfig } from "./cache-config.js";
import { createCacheChains } from "./chains.js";
import { CREATED_AT_ANNOTATION, readCacheImport, UNCOMPRESSED_ANNOTATION } from "./import.js";

const DEFAULT_TOUCH_AFTER_MS = 24 * 60 * 60 * 1000;
const DEFAULT_RETENTION_MS = 14 * 24 * 60 * 60 * 1000;
const MIN_SETTLE_MS = 300;

/** `manifest`: an OCI manifest (registry, local); `index`: `image-manifest=false`; `json`: S3/GHA. */
export type CacheLayout = "manifest" | "index" | "json";

export interface WriteCacheOptions extends CallOptions {
  readonly store: BlobStore;
  readonly name: string;
  readonly layout: CacheLayout;
  /** Opens a blob to upload (local content store, or the remote a lazy result came from). */
  readonly openBlob: (layer: Layer, o?: CallOptions) => Promise<Readable>;
  readonly parallelism?: number;
  readonly maxAttempts?: number;
  /**
   * On stores that expire old objects (`capabilities.touch`), an existing blob last written longer ago
   * than this is touched instead of uploaded (S3 `touch_refresh`, default 24 h).
   */
  readonly touchAfterMs?: number;
  /**
   * Results already in the index that were built longer ago than this are dropped when merging (with
   * the records only they needed), so an index shared by many builds stays bounded. Default 14 days.
   */
  readonly retentionMs?: number;
  /**
   * Stores without compare-and-swap: how long after a confirmed write the pointer is read again to see
   * whether a concurrent writer replaced it without our records (then they are merged in again).
   * Default: twice the time this attempt took from read to write, at least 300 ms.
   */
  readonly settleMs?: number;
}

export interface WriteCacheResult {
  /** The pointer's new content: the cache manifest (or config JSON) descriptor. */
  readonly descriptor: Descriptor;
  readonly uploaded: number;
  readonly records: number;
  readonly attempts: number;
}

/**
 * Uploads the blobs the remote does not have (one existence check each, in parallel), then merges
 * this build's records into whatever the pointer holds and writes it back with compare-and-swap,
 * retrying on a lost race; stores without CAS write and read back to confirm. Blobs are uploaded as
 * they are: never re-compressed.
 */
export async function writeCache(
  ours: { config: CacheConfig; layers: ReadonlyMap<Digest, Layer> },
  opts: WriteCacheOptions,
): Promise<WriteCacheResult> {
  const { store } = opts;
  const o: CallOptions = opts.signal ? { signal: opts.signal } : {};
  const limit = pLimit(opts.parallelism ?? 4);
  let uploaded = 0;
  const touchAfter = opts.touchAfterMs ?? DEFAULT_TOUCH_AFTER_MS;
  await Promise.all(
    [...ours.layers.values()].map((layer) =>
      limit(async () => {
        const existing = await store.info(layer.blob.digest, o);
        if (existing) {
          const age = existing.updatedAt ? Date.now() - existing.updatedAt.getTime() : 0;
          if (store.capabilities.touch && store.touch && age > touchAfter)
            await store.touch(layer.blob.digest, o);
          return;
        }
        await store.write(layer.blob, await opts.openBlob(layer, o), o);
        uploaded++;
      }),
    ),
  );

  const maxAttempts = opts.maxAttempts ?? 10;
  for (let attempt = 1; ; attempt++) {
    const started = Date.now();
    const current = await store.readPointer(opts.name, o);
    const merged = createCacheChains();
    if (current) {
      try {
        const theirs = await readCacheImport(store, current.data, o);
        merged.addConfig(theirs.config, theirs.layers);
        merged.prune(new Date(Date.now() - (opts.retentionMs ?? DEFAULT_RETENTION_MS)));
      } catch (err) {
        // An unreadable old index is replaced rather than blocking every future export.
        if (!(err instanceof KilnError) || err.code !== "INVALID_ARGUMENT") throw err;
      }
    }
    merged.addConfig(ours.config, ours.layers);
    const { config, layers } = merged.marshal();
    const pointer = await encodePointer(config, layers, opts.layout, store, o);
    const ok = await store.writePointer(opts.name, pointer.bytes, {
      ...o,
      expected: current?.version ?? null,
    });
    const confirmed =
      ok &&
      (store.capabilities.conditionalPointers ||
        Buffer.from((await store.readPointer(opts.name, o))?.data ?? []).equals(pointer.bytes));
    const done = {
      descriptor: pointer.descriptor,
      uploaded,
      records: config.records.length,
      attempts: attempt,
    };
    if (confirmed && store.capabilities.conditionalPointers) return done;
    // Without CAS, a writer that read the pointer before our write landed overwrites it a moment later
    // with an index lacking our records: wait out such writers, then look again and re-merge if so.
    if (confirmed) {
      const settle = opts.settleMs ?? Math.max(MIN_SETTLE_MS, 2 * (Date.now() - started));
      await new Promise((r) => setTimeout(r, settle));
      if (await holdsRecords(store, opts.name, ours.config, o)) return done;
    }
    if (attempt >= maxAttempts) {
      throw new KilnError("UNAVAILABLE", `cache index ${opts.name} kept changing under concurrent writers`, {
        hint: "another build exports to the same cache ref at the same time; retry the export",
      });
    }
    await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
  }
}

/** True when the pointer's index still has every result record and layer blob of `ours`. */
async function holdsRecords(
  store: BlobStore,
  name: string,
  ours: CacheConfig,
  o: CallOptions,
): Promise<boolean> {
  const now = await store.readPointer(name, o);
  if (!now) return false;
  const { config } = await readCacheImport(store, now.data, o);
  const blobs = new Set(config.layers.map((l) => l.blob));
  const withResults = new Set(
    config.records.filter((r) => r.results.length + r.chains.length > 0).map((r) => r.digest),
  );
  return (
    ours.layers.every((l) => blobs.has(l.blob)) &&
    ours.records.every((r) => r.results.length + r.chains.length === 0 || withResults.has(r.digest))
  );
}

async function encodePointer(
  config: CacheConfig,
  layers: ReadonlyMap<Digest, Layer>,
  layout: CacheLayout,
  store: BlobStore,
  o: CallOptions,
): Promise<{ bytes: Buffer; descriptor: Descriptor }> {
  const now = new Date().toISOString();
  // Layers in config order, each blob once (a blob may appear under several parents).
  const seen = new Set<Digest>();
  const layerDescs: Descriptor[] = [];
  for (const l of config.layers) {
    const layer = layers.get(l.blob);
    if (!layer || seen.has(l.blob)) continue;
    seen.add(l.blob);
    layerDescs.push({
      ...layer.blob,
      annotations: { [UNCOMPRESSED_ANNOTATION]: layer.diffId, [CREATED_AT_ANNOTATION]: now },
    });
  }
  if (layout === "json") {
    const annotated: CacheConfig = {
      ...config,
      layers: config.layers.map((l) => {
        const layer = layers.get(l.blob);
        return layer
          ? {
              ...l,
              annotations: {
                mediaType: layer.blob.mediaType,
                diffID: layer.diffId,
                size: layer.blob.size,
                createdAt: now,
              },
            }
          : l;
      }),
    };
    const bytes = Buffer.from(serializeCacheConfig(annotated));
    return {
      bytes,
      descriptor: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length },
    };
  }
  const configBytes = Buffer.from(serializeCacheConfig(config));
  const configDesc: Descriptor = {
    mediaType: CACHE_CONFIG_MEDIA_TYPE,
    digest: sha256(configBytes),
    size: configBytes.length,
  };
  await store.write(configDesc, Readable.from([configBytes]), o);
  const doc =
    layout === "manifest"
      ? { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: layerDescs }
      : { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...layerDescs, configDesc] };
  const bytes = Buffer.from(JSON.stringify(doc));
  const mediaType = layout === "manifest" ? MediaType.OciManifest : MediaType.OciIndex;
  return { bytes, descriptor: { mediaType, digest: sha256(bytes), size: bytes.length } };
}
