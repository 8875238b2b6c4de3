import type {
  CacheGraph,
  CacheGraphEdge,
  CacheKeyDescription,
  CallOptions,
  Digest,
  ImmutableRef,
  Layer,
  Ref,
  ResultLoadOptions,
} from "@kiln/core";
import pLimit from "p-limit";
import type { RefManager } from "../refs.js";
import { type CacheChains, createCacheChains, type ItemId } from "./chains.js";
import { postOrder } from "./post-order.js";

const LAYER_PARALLELISM = 4;

export type CacheExportMode = "min" | "max";

export interface GraphChainsOptions {
  readonly mode: CacheExportMode;
  readonly refs: Pick<RefManager, "knownLayers">;
  /** The stored result of a key, for edges this build did not resolve (their dependents hit). */
  readonly loadResult: (key: Digest, o?: ResultLoadOptions) => Promise<Ref | undefined>;
  readonly now?: Date;
}

/**
 * Turns what the solver learned into BuildKit's cache chains, walking from the build result: one item
 * per keyed edge, its definition and content keys merged into alternatives per input (as BuildKit's
 * one key with several dep keys per input). Results:
 * - `max`: every edge's layers (computed if needed, so every intermediate step is cached);
 * - `min`: the final result's layers, plus intermediates whose blobs already exist (ancestors within
 *   the final image, base images, lazily imported results) — never computing a blob for them.
 */
export async function chainsFromGraph(
  graph: CacheGraph<Ref>,
  opts: GraphChainsOptions,
  o?: CallOptions,
): Promise<CacheChains> {
  const chains = createCacheChains();
  const createdAt = opts.now ?? new Date();
  const root = graph.root[0] ? graph.byKey.get(graph.root[0]) : undefined;
  if (!root) return chains;
  // Lets an imported cache match the graph's keys structurally (see ResultLoadOptions).
  const describeKey = (key: Digest): CacheKeyDescription | undefined => {
    const entry = graph.byKey.get(key);
    const info = entry?.keys.find((k) => k.key === key);
    return entry && info ? { record: entry.record, deps: info.deps } : undefined;
  };

  async function resultLayers(entry: CacheGraphEdge<Ref>): Promise<Layer[] | undefined> {
    if (!entry.exportResult || entry.keys.length === 0) return undefined;
    let ref = entry.result;
    for (const { key } of entry.keys) {
      if (ref) break;
      ref = await opts.loadResult(key, { ...o, describeKey });
    }
    if (!ref || "directory" in ref) return undefined;
    const known = opts.refs.knownLayers(ref as ImmutableRef);
    if (known) return known;
    if (entry === root || opts.mode === "max") return (ref as ImmutableRef).layers(o);
    return undefined;
  }

  // The root first: in min mode its layers must exist before intermediates ask what is known.
  await resultLayers(root);
  const depEntries = (entry: CacheGraphEdge<Ref>) =>
    entry.keys.flatMap((info) => info.deps.flatMap((d) => graph.byKey.get(d.key) ?? []));
  const order = postOrder([root], depEntries);
  // Blobs (mode=max) are computed a few at a time; the snapshotter diff and gzip are the cost.
  const limit = pLimit(LAYER_PARALLELISM);
  const layersOf = await Promise.all(order.map((entry) => limit(() => resultLayers(entry))));
  const items = new Map<CacheGraphEdge<Ref>, ItemId | null>();
  for (const [n, entry] of order.entries()) {
    const inputCount = entry.keys[0]?.deps.length ?? 0;
    const inputs: { src: ItemId; selector?: string }[][] = [];
    for (let i = 0; i < inputCount; i++) {
      const alts: { src: ItemId; selector?: string }[] = [];
      for (const info of entry.keys) {
        const dep = info.deps[i];
        const depEntry = dep && graph.byKey.get(dep.key);
        const src = depEntry ? items.get(depEntry) : undefined;
        if (src) alts.push(dep?.selector ? { src, selector: dep.selector } : { src });
      }
      // An input without any exportable key makes the record unreachable (BuildKit skips it too).
      if (alts.length === 0) break;
      inputs.push(alts);
    }
    const layers = layersOf[n];
    items.set(
      entry,
      inputs.length === inputCount
        ? chains.add(entry.record, inputs, layers?.length ? { layers, createdAt } : undefined)
        : null,
    );
  }
  return chains;
}
