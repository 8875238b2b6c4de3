import {
  type BlobReader,
  type CacheKeyDescription,
  type CacheKeyLink,
  type CallOptions,
  cacheKeyOf,
  type Descriptor,
  type Digest,
  isDigest,
  KilnError,
  type Layer,
  MediaType,
} from "@kiln/core";
import { readBlobBytes } from "./blob-io.js";
import {
  CACHE_CONFIG_MEDIA_TYPE,
  type CacheConfig,
  type CacheRecord,
  parseCacheConfig,
} from "./cache-config.js";
import { type ChainResult, resultOf } from "./chains.js";
import { postOrder, range } from "./post-order.js";

export const UNCOMPRESSED_ANNOTATION = "containerd.io/uncompressed";
export const CREATED_AT_ANNOTATION = "buildkit/createdat";
export const INLINE_CACHE_CONFIG_KEY = "moby.buildkit.cache.v0";
/** How many keys one record may expand to (alternatives per input multiply). */
const MAX_KEYS_PER_RECORD = 64;

/** A remote cache read into memory: the config plus every cache key its records answer. */
export interface ImportedCache {
  readonly config: CacheConfig;
  /** Layer descriptors by blob digest (from the manifest, or the config's own annotations). */
  readonly layers: ReadonlyMap<Digest, Layer>;
  /**
   * The newest result stored under a cache key, if any. With `describe` (how the solver built the key
   * and its links) records are matched structurally, link by link, as BuildKit's cache query does;
   * without it, against the keys each record expands to (capped per record).
   */
  lookup(key: Digest, describe?: (key: Digest) => CacheKeyDescription | undefined): ChainResult | undefined;
  readonly keyCount: number;
}

/**
 * Reads a cache pointer: an OCI manifest whose config is the cache config (`image-manifest=true`),
 * an OCI index holding it (`image-manifest=false`), the bare config JSON with layer annotations
 * (S3/GHA), or an image whose config carries an inline cache. Only the pointer, the manifest and the
 * config are read here; layer blobs stay where they are until a result is used.
 */
export async function readCacheImport(
  store: BlobReader,
  pointer: Uint8Array,
  o?: CallOptions,
): Promise<{ config: CacheConfig; layers: Map<Digest, Layer> }> {
  const doc = parseJson(pointer);
  const mediaType = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  if (Array.isArray(doc.manifests) || mediaType === MediaType.OciIndex) {
    const manifests = (doc.manifests ?? []) as Descriptor[];
    const configDesc = manifests.find((m) => m.mediaType === CACHE_CONFIG_MEDIA_TYPE);
    if (!configDesc) {
      // An image index: its (first) image may carry an inline cache, as BuildKit reads it.
      const image = manifests.find(
        (m) => m.mediaType === MediaType.OciManifest || m.mediaType === MediaType.DockerManifest,
      );
      if (!image) throw invalid("the index holds neither a cache config nor an image");
      return readCacheImport(store, await readBlobBytes(store, image, o), o);
    }
    const config = parseCacheConfig(await readBlobBytes(store, configDesc, o));
    return { config, layers: layersFromDescriptors(manifests.filter((m) => m !== configDesc)) };
  }
  if (isObject(doc.config) && Array.isArray(doc.layers)) {
    const configDesc = doc.config as unknown as Descriptor;
    const manifestLayers = doc.layers as Descriptor[];
    const configBytes = await readBlobBytes(store, configDesc, o);
    if (configDesc.mediaType === CACHE_CONFIG_MEDIA_TYPE) {
      return { config: parseCacheConfig(configBytes), layers: layersFromDescriptors(manifestLayers) };
    }
    return inlineCache(configBytes, manifestLayers);
  }
  // The bare config (S3, GHA): descriptors come from the layers' own annotations.
  const config = parseCacheConfig(pointer);
  const layers = new Map<Digest, Layer>();
  for (const l of config.layers) {
    const a = l.annotations;
    if (!a?.diffID || a.size === undefined || !a.mediaType) continue;
    layers.set(l.blob, { blob: { mediaType: a.mediaType, digest: l.blob, size: a.size }, diffId: a.diffID });
  }
  return { config, layers };
}

/** Indexes a config by cache key: every record's keys, as the solver computes them (core cache-keys). */
export function indexCacheConfig(config: CacheConfig, layers: ReadonlyMap<Digest, Layer>): ImportedCache {
  const keysOf = new Map<number, Digest[]>();
  const results = new Map<Digest, ChainResult>();
  const linksOf = (i: number) => (config.records[i]?.inputs ?? []).flat().map((a) => a.link);
  for (const index of postOrder(range(config.records.length), linksOf)) {
    const record = config.records[index] as CacheRecord;
    let combos: CacheKeyLink[][] = [[]];
    for (const alts of record.inputs) {
      const options = alts.flatMap((a) =>
        (keysOf.get(a.link) ?? []).map((key) => (a.selector ? { key, selector: a.selector } : { key })),
      );
      combos = combos.flatMap((c) => options.map((opt) => [...c, opt])).slice(0, MAX_KEYS_PER_RECORD);
    }
    keysOf.set(
      index,
      combos.map((deps) => cacheKeyOf(record.digest, deps)),
    );
  }
  const recordResults = new Map<number, ChainResult>();
  const byDigest = new Map<Digest, number[]>();
  for (const [i, record] of config.records.entries()) {
    byDigest.set(record.digest, [...(byDigest.get(record.digest) ?? []), i]);
    const keys = keysOf.get(i) ?? [];
    const result = resultOf(config, record, layers);
    if (!result) continue;
    recordResults.set(i, result);
    for (const key of keys) {
      const previous = results.get(key);
      if (!previous || result.createdAt > previous.createdAt) results.set(key, result);
    }
  }

  // Structural matching: the records a key stands for, memoized (a key's structure never changes).
  const matches = new Map<Digest, ReadonlySet<number>>();
  const match = (
    key: Digest,
    describe: (key: Digest) => CacheKeyDescription | undefined,
  ): ReadonlySet<number> => {
    const depsOf = (k: Digest) => (matches.has(k) ? [] : (describe(k)?.deps ?? []).map((d) => d.key));
    for (const k of postOrder([key], depsOf)) {
      if (matches.has(k)) continue;
      const d = describe(k);
      const found = new Set<number>();
      for (const i of d ? (byDigest.get(d.record) ?? []) : []) {
        const inputs = config.records[i]?.inputs ?? [];
        if (!d || inputs.length !== d.deps.length) continue;
        const linked = inputs.every((alts, j) => {
          const dep = d.deps[j];
          const targets = dep && matches.get(dep.key);
          return (
            targets !== undefined &&
            alts.some((a) => (a.selector ?? "") === (dep?.selector ?? "") && targets.has(a.link))
          );
        });
        if (linked) found.add(i);
      }
      matches.set(k, found);
    }
    return matches.get(key) ?? new Set();
  };

  return {
    config,
    layers,
    keyCount: results.size,
    lookup(key, describe) {
      if (!describe?.(key)) return results.get(key);
      let best: ChainResult | undefined;
      for (const i of match(key, describe)) {
        const result = recordResults.get(i);
        if (result && (!best || result.createdAt > best.createdAt)) best = result;
      }
      return best;
    },
  };
}

// --- Internal helpers ---

function layersFromDescriptors(descs: readonly Descriptor[]): Map<Digest, Layer> {
  const layers = new Map<Digest, Layer>();
  for (const d of descs) {
    const diffId = d.annotations?.[UNCOMPRESSED_ANNOTATION];
    if (!isDigest(d.digest) || !isDigest(diffId)) continue;
    layers.set(d.digest, { blob: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffId });
  }
  return layers;
}

/**
 * An image with an inline cache: the image config's `moby.buildkit.cache.v0` holds (base64) the
 * records only; their layer indexes are positions in the image's layer list, each layer's parent
 * the one before it, diff ids from `rootfs.diff_ids`.
 */
function inlineCache(configBytes: Uint8Array, manifestLayers: readonly Descriptor[]) {
  const image = parseJson(configBytes);
  const inline = image[INLINE_CACHE_CONFIG_KEY];
  if (typeof inline !== "string")
    throw invalid("the manifest is neither a cache manifest nor an image with an inline cache");
  let records: unknown;
  try {
    records = JSON.parse(Buffer.from(inline, "base64").toString("utf8"));
  } catch {
    throw invalid("the image's inline cache is not JSON");
  }
  const diffIds = ((image.rootfs as { diff_ids?: unknown[] } | undefined)?.diff_ids ?? []) as unknown[];
  const layers = new Map<Digest, Layer>();
  manifestLayers.forEach((d, i) => {
    const diffId = diffIds[i];
    if (isDigest(d.digest) && isDigest(diffId)) {
      layers.set(d.digest, { blob: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffId });
    }
  });
  const config = parseCacheConfig(
    JSON.stringify({
      layers: manifestLayers.map((d, i) => ({ blob: d.digest, parent: i - 1 })),
      records: Array.isArray(records) ? records : [],
    }),
  );
  return { config, layers };
}

function parseJson(data: Uint8Array): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(data).toString("utf8"));
    if (isObject(parsed)) return parsed;
  } catch {}
  throw invalid("is not a JSON object");
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function invalid(what: string): KilnError {
  return new KilnError("INVALID_ARGUMENT", `cache import: ${what}`, {
    hint: "point --cache-from at a cache written with --cache-to (or an image built with an inline cache)",
  });
}
