import { type Digest, type Layer, sha256 } from "@kiln/core";
import {
  type CacheConfig,
  type CacheInput,
  type CacheLayer,
  type CacheRecord,
  layerChain,
} from "./cache-config.js";
import { postOrder, range } from "./post-order.js";

/** A result of a record: its layer chain (base first) and when it was built. */
export interface ChainResult {
  readonly layers: readonly Layer[];
  readonly createdAt: Date;
}

export interface ChainLink {
  readonly src: ItemId;
  readonly selector?: string;
}

/** Items are content-addressed: a digest plus its links, so equal items added twice are one item. */
export type ItemId = string & { readonly __item: true };

/**
 * The in-memory cache graph an export builds (BuildKit's CacheChains). `add` is idempotent: the same
 * digest with the same links is the same item; a later result for an item replaces an older one.
 */
export interface CacheChains {
  add(digest: Digest, inputs?: readonly (readonly ChainLink[])[], result?: ChainResult): ItemId;
  /** Adds every record of a parsed config (for merging with what a remote already holds). */
  addConfig(config: CacheConfig, layers: ReadonlyMap<Digest, Layer>): void;
  readonly size: number;
  /**
   * Drops results built before `cutoff`, then every item that neither has a result nor leads to one
   * through links: what a merged index keeps from the past is bounded by age.
   */
  prune(cutoff: Date): void;
  /** The config, sorted deterministically, and the layer descriptors it references by blob digest. */
  marshal(): { config: CacheConfig; layers: Map<Digest, Layer> };
}

interface Item {
  readonly id: ItemId;
  readonly digest: Digest;
  readonly inputs: readonly (readonly ChainLink[])[];
  result?: ChainResult;
}

export function createCacheChains(): CacheChains {
  const items = new Map<ItemId, Item>();

  function add(digest: Digest, inputs: readonly (readonly ChainLink[])[] = [], result?: ChainResult): ItemId {
    const normalized = inputs.map((alts) => uniqueLinks(alts));
    const id = sha256(
      JSON.stringify([digest, normalized.map((alts) => alts.map((a) => [a.selector ?? "", a.src]))]),
    ) as string as ItemId;
    let item = items.get(id);
    if (!item) {
      item = { id, digest, inputs: normalized };
      items.set(id, item);
    }
    if (result && result.layers.length > 0 && (!item.result || newer(result, item.result))) {
      item.result = result;
    }
    return id;
  }

  function addConfig(config: CacheConfig, layers: ReadonlyMap<Digest, Layer>): void {
    const ids = new Map<number, ItemId | null>();
    const linksOf = (i: number) => (config.records[i]?.inputs ?? []).flat().map((a) => a.link);
    for (const index of postOrder(range(config.records.length), linksOf)) {
      const record = config.records[index] as CacheRecord;
      const inputs: ChainLink[][] = [];
      for (const alts of record.inputs) {
        // A link without an item (its record is unusable, or the link closes a cycle) is dropped.
        const links = alts.flatMap((a) => {
          const src = ids.get(a.link);
          return src ? [{ src, ...(a.selector ? { selector: a.selector } : {}) }] : [];
        });
        if (links.length === 0) break;
        inputs.push(links);
      }
      ids.set(
        index,
        inputs.length === record.inputs.length
          ? add(record.digest, inputs, resultOf(config, record, layers))
          : null,
      );
    }
  }

  function marshal(): { config: CacheConfig; layers: Map<Digest, Layer> } {
    const outLayers: CacheLayer[] = [];
    const chainIndex = new Map<string, number>();
    const descriptors = new Map<Digest, Layer>();
    const layerOf = (chain: readonly Layer[]): number => {
      let parent = -1;
      let chainId = "";
      for (const layer of chain) {
        chainId = `${chainId}/${layer.blob.digest}`;
        descriptors.set(layer.blob.digest, layer);
        let index = chainIndex.get(chainId);
        if (index === undefined) {
          index = outLayers.length;
          outLayers.push({ blob: layer.blob.digest, parent });
          chainIndex.set(chainId, index);
        }
        parent = index;
      }
      return parent;
    };
    const order = [...items.values()];
    const recordIndex = new Map(order.map((item, i) => [item.id, i]));
    const records: CacheRecord[] = order.map((item) => ({
      digest: item.digest,
      inputs: item.inputs.map((alts) =>
        alts.map((a) => ({
          link: recordIndex.get(a.src) as number,
          ...(a.selector ? { selector: a.selector } : {}),
        })),
      ),
      results: item.result
        ? [{ layer: layerOf(item.result.layers), createdAt: item.result.createdAt.toISOString() }]
        : [],
      chains: [],
    }));
    return { config: sortConfig({ layers: outLayers, records }), layers: descriptors };
  }

  function prune(cutoff: Date): void {
    for (const item of items.values()) if (item.result && item.result.createdAt < cutoff) delete item.result;
    const keep = new Set<ItemId>();
    const stack = [...items.values()].filter((item) => item.result).map((item) => item.id);
    for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
      if (keep.has(id)) continue;
      keep.add(id);
      for (const alts of items.get(id)?.inputs ?? []) for (const link of alts) stack.push(link.src);
    }
    for (const id of [...items.keys()]) if (!keep.has(id)) items.delete(id);
  }

  return {
    add,
    addConfig,
    prune,
    get size() {
      return items.size;
    },
    marshal,
  };
}

/**
 * Deterministic order, as BuildKit's `sortConfig`: layers by blob then parent index; records by
 * digest, number of inputs, then per input the number of links, selectors and linked digests; links
 * of an input by their new index. Indexes are rewritten to the new positions.
 */
export function sortConfig(config: CacheConfig): CacheConfig {
  const layerOrder = config.layers.map((l, i) => ({ l, i }));
  layerOrder.sort((a, b) => (a.l.blob === b.l.blob ? a.l.parent - b.l.parent : a.l.blob < b.l.blob ? -1 : 1));
  const newLayer = new Map(layerOrder.map(({ i }, n) => [i, n]));
  const layers = layerOrder.map(({ l }) => ({
    ...l,
    parent: l.parent === -1 ? -1 : (newLayer.get(l.parent) as number),
  }));

  const recs = config.records;
  const digestOf = (link: number) => recs[link]?.digest ?? "";
  const compareRecords = (a: CacheRecord, b: CacheRecord): number => {
    if (a.digest !== b.digest) return a.digest < b.digest ? -1 : 1;
    if (a.inputs.length !== b.inputs.length) return a.inputs.length - b.inputs.length;
    for (const [i, altsA] of a.inputs.entries()) {
      const altsB = b.inputs[i] ?? [];
      if (altsA.length !== altsB.length) return altsA.length - altsB.length;
      for (const [j, x] of altsA.entries()) {
        const y = altsB[j] as CacheInput;
        const [sx, sy] = [x.selector ?? "", y.selector ?? ""];
        if (sx !== sy) return sx < sy ? -1 : 1;
        const [dx, dy] = [digestOf(x.link), digestOf(y.link)];
        if (dx !== dy) return dx < dy ? -1 : 1;
      }
    }
    return 0;
  };
  const recordOrder = recs.map((r, i) => ({ r, i }));
  recordOrder.sort((a, b) => compareRecords(a.r, b.r));
  const newRecord = new Map(recordOrder.map(({ i }, n) => [i, n]));
  const records = recordOrder.map(({ r }) => ({
    ...r,
    results: r.results.map((x) => ({ ...x, layer: newLayer.get(x.layer) as number })),
    chains: r.chains.map((c) => ({ ...c, layers: c.layers.map((l) => newLayer.get(l) as number) })),
    inputs: r.inputs.map((alts) =>
      alts.map((a) => ({ ...a, link: newRecord.get(a.link) as number })).sort((x, y) => x.link - y.link),
    ),
  }));
  return { layers, records };
}

/** The newest usable result of a parsed record: every blob must have a descriptor with a diff id. */
export function resultOf(
  config: CacheConfig,
  record: CacheRecord,
  layers: ReadonlyMap<Digest, Layer>,
): ChainResult | undefined {
  const candidates = [
    ...record.results.map((r) => ({ indexes: safeChain(config, r.layer), createdAt: r.createdAt })),
    ...record.chains.map((c) => ({ indexes: [...c.layers], createdAt: c.createdAt })),
  ];
  let best: ChainResult | undefined;
  for (const c of candidates) {
    if (!c.indexes) continue;
    const chain: Layer[] = [];
    for (const i of c.indexes) {
      const layer = layers.get(config.layers[i]?.blob as Digest);
      if (!layer) break;
      chain.push(layer);
    }
    if (chain.length !== c.indexes.length || chain.length === 0) continue;
    const parsed = c.createdAt ? new Date(c.createdAt) : new Date(0);
    const result = { layers: chain, createdAt: Number.isNaN(parsed.getTime()) ? new Date(0) : parsed };
    if (!best || newer(result, best)) best = result;
  }
  return best;
}

// --- Internal helpers ---

function safeChain(config: CacheConfig, top: number): number[] | undefined {
  try {
    return layerChain(config, top);
  } catch {
    return undefined;
  }
}

function newer(a: ChainResult, b: ChainResult): boolean {
  if (a.createdAt.getTime() !== b.createdAt.getTime()) return a.createdAt > b.createdAt;
  const key = (r: ChainResult) => r.layers.map((l) => l.blob.digest).join("/");
  return key(a) < key(b);
}

function uniqueLinks(alts: readonly ChainLink[]): ChainLink[] {
  const seen = new Map<string, ChainLink>();
  for (const a of alts) {
    const selector = a.selector ?? "";
    seen.set(`${selector}\0${a.src}`, selector ? { src: a.src, selector } : { src: a.src });
  }
  return [...seen.entries()].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)).map(([, v]) => v);
}
