import { type Digest, isDigest, KilnError } from "@kiln/core";

/**
 * BuildKit's cache config (`application/vnd.buildkit.cacheconfig.v0`): a list of layers (each a blob
 * plus the index of its parent layer) and a list of records (a record digest, the records each input
 * links to, and results as layer indexes). Field names, order and omissions follow BuildKit's Go
 * structs, so kiln and BuildKit read each other's configs:
 * - a layer's `parent` is omitted when it is 0 (a missing `parent` therefore *means* 0; roots say -1);
 * - a link's `selector` is omitted when empty; `createdAt` is always written.
 */
export const CACHE_CONFIG_MEDIA_TYPE = "application/vnd.buildkit.cacheconfig.v0";

/** Written only by backends without a manifest (S3, GHA): what the manifest's descriptor would say. */
export interface CacheLayerAnnotations {
  readonly mediaType?: string;
  readonly diffID?: Digest;
  readonly size?: number;
  readonly createdAt?: string;
}

export interface CacheLayer {
  readonly blob: Digest;
  /** Index of the parent layer, -1 for a base layer. */
  readonly parent: number;
  readonly annotations?: CacheLayerAnnotations;
}

export interface CacheInput {
  readonly selector?: string;
  readonly link: number;
}

export interface CacheResult {
  /** The top layer; the result is that layer with all its parents. */
  readonly layer: number;
  readonly createdAt?: string;
}

export interface ChainedResult {
  /** Explicit layer list, base first (parents not followed). */
  readonly layers: readonly number[];
  readonly createdAt?: string;
}

export interface CacheRecord {
  readonly digest: Digest;
  readonly inputs: readonly (readonly CacheInput[])[];
  readonly results: readonly CacheResult[];
  readonly chains: readonly ChainedResult[];
}

export interface CacheConfig {
  readonly layers: readonly CacheLayer[];
  readonly records: readonly CacheRecord[];
}

/** Serializes like BuildKit's `json.Marshal(CacheConfig)` (field order and omitempty rules). */
export function serializeCacheConfig(config: CacheConfig): string {
  const layers = config.layers.map((l) => ({
    blob: l.blob,
    ...(l.parent !== 0 ? { parent: l.parent } : {}),
    ...(l.annotations ? { annotations: l.annotations } : {}),
  }));
  const records = config.records.map((r) => ({
    ...(r.results.length
      ? { layers: r.results.map((x) => ({ layer: x.layer, createdAt: time(x.createdAt) })) }
      : {}),
    ...(r.chains.length
      ? { chains: r.chains.map((c) => ({ layers: [...c.layers], createdAt: time(c.createdAt) })) }
      : {}),
    digest: r.digest,
    ...(r.inputs.length
      ? {
          inputs: r.inputs.map((alts) =>
            alts.map((a) => ({ ...(a.selector ? { selector: a.selector } : {}), link: a.link })),
          ),
        }
      : {}),
  }));
  return JSON.stringify({
    ...(layers.length ? { layers } : {}),
    ...(records.length ? { records } : {}),
  });
}

/** Parses and validates a cache config; every index must point inside its list. */
export function parseCacheConfig(data: Uint8Array | string): CacheConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === "string" ? data : Buffer.from(data).toString("utf8"));
  } catch (cause) {
    throw invalid("is not JSON", cause);
  }
  if (!isObject(raw)) throw invalid("is not a JSON object");
  const rawLayers = optionalArray(raw.layers, "layers");
  const rawRecords = optionalArray(raw.records, "records");
  const layers = rawLayers.map((l, i): CacheLayer => {
    if (!isObject(l) || !isDigest(l.blob)) throw invalid(`layers[${i}] has no valid blob digest`);
    const parent = l.parent === undefined ? 0 : l.parent;
    if (!Number.isInteger(parent) || (parent as number) < -1 || (parent as number) >= rawLayers.length) {
      throw invalid(`layers[${i}].parent ${JSON.stringify(l.parent)} is out of range`);
    }
    return {
      blob: l.blob,
      parent: parent as number,
      ...(isObject(l.annotations) ? { annotations: parseAnnotations(l.annotations) } : {}),
    };
  });
  const layerIndex = (v: unknown, where: string): number => {
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= layers.length) {
      throw invalid(`${where} ${JSON.stringify(v)} is not a layer index`);
    }
    return v as number;
  };
  const records = rawRecords.map((r, i): CacheRecord => {
    if (!isObject(r) || !isDigest(r.digest)) throw invalid(`records[${i}] has no valid digest`);
    const inputs = optionalArray(r.inputs, `records[${i}].inputs`).map((alts, j) =>
      optionalArray(alts, `records[${i}].inputs[${j}]`).map((a): CacheInput => {
        if (!isObject(a)) throw invalid(`records[${i}].inputs[${j}] holds a non-object`);
        const link = a.link ?? 0;
        if (!Number.isInteger(link) || (link as number) < 0 || (link as number) >= rawRecords.length) {
          throw invalid(`records[${i}].inputs[${j}] links to ${JSON.stringify(a.link)}, out of range`);
        }
        return {
          link: link as number,
          ...(typeof a.selector === "string" && a.selector ? { selector: a.selector } : {}),
        };
      }),
    );
    const results = optionalArray(r.layers, `records[${i}].layers`).map((x): CacheResult => {
      if (!isObject(x)) throw invalid(`records[${i}].layers holds a non-object`);
      return {
        layer: layerIndex(x.layer ?? 0, `records[${i}].layers[].layer`),
        ...(typeof x.createdAt === "string" ? { createdAt: x.createdAt } : {}),
      };
    });
    const chains = optionalArray(r.chains, `records[${i}].chains`).map((x): ChainedResult => {
      if (!isObject(x)) throw invalid(`records[${i}].chains holds a non-object`);
      return {
        layers: optionalArray(x.layers, `records[${i}].chains[].layers`).map((v) =>
          layerIndex(v, `records[${i}].chains[].layers[]`),
        ),
        ...(typeof x.createdAt === "string" ? { createdAt: x.createdAt } : {}),
      };
    });
    return { digest: r.digest, inputs, results, chains };
  });
  return { layers, records };
}

/** The layer indexes of a result, base first; throws on a parent cycle. */
export function layerChain(config: CacheConfig, top: number): number[] {
  const chain: number[] = [];
  for (let i = top; i !== -1; ) {
    if (chain.length > config.layers.length) throw invalid(`layer ${top} has a parent cycle`);
    chain.unshift(i);
    i = config.layers[i]?.parent ?? -1;
  }
  return chain;
}

// --- Internal helpers ---

const ZERO_TIME = "0001-01-01T00:00:00Z";

function time(value: string | undefined): string {
  return value ?? ZERO_TIME;
}

function parseAnnotations(a: Record<string, unknown>): CacheLayerAnnotations {
  return {
    ...(typeof a.mediaType === "string" ? { mediaType: a.mediaType } : {}),
    ...(isDigest(a.diffID) ? { diffID: a.diffID } : {}),
    ...(typeof a.size === "number" ? { size: a.size } : {}),
    ...(typeof a.createdAt === "string" ? { createdAt: a.createdAt } : {}),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function optionalArray(v: unknown, where: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`${where} is not a list`);
  return v;
}

function invalid(what: string, cause?: unknown): KilnError {
  return new KilnError("INVALID_ARGUMENT", `cache config ${what}`, {
    hint: "the cache was written by an incompatible tool or is corrupt; export it again",
    ...(cause ? { cause } : {}),
  });
}
