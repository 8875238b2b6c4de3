import type { CacheGraph, CallOptions, Digest, ImmutableRef, Ref } from "@kiln/core";
import { layerChain, serializeCacheConfig } from "./cache-config.js";
import { chainsFromGraph, type GraphChainsOptions } from "./graph-chains.js";

/**
 * The inline cache of an image (`--cache-to type=inline`, or the `BUILDKIT_INLINE_CACHE` build-arg):
 * `mode=min` records whose results are layers of the image itself, written as BuildKit does into the
 * image config under `moby.buildkit.cache.v0` — the JSON of the records list, base64 (Go's []byte).
 * A result whose layers are the image's first n layers becomes `{layer: n-1}`; one made of image
 * layers in another order becomes a chain of positions; any other result is dropped (its record
 * stays, for the links). Importing uses `--cache-from type=registry,ref=<image>`.
 */
export async function inlineCacheValue(
  graph: CacheGraph<Ref>,
  opts: Omit<GraphChainsOptions, "mode">,
  o?: CallOptions,
): Promise<string | undefined> {
  const rootEntry = graph.root[0] ? graph.byKey.get(graph.root[0]) : undefined;
  const root = rootEntry?.result;
  if (!root || "directory" in root) return undefined;
  const imageLayers = (await (root as ImmutableRef).layers(o)).map((l) => l.blob.digest);
  const position = new Map<Digest, number>(imageLayers.map((d, i) => [d, i]));
  const chains = await chainsFromGraph(graph, { ...opts, mode: "min" }, o);
  const { config } = chains.marshal();
  if (config.records.length === 0) return undefined;
  const records = config.records.map((record) => {
    const results = [];
    const chainsOut = [];
    for (const result of record.results) {
      const blobs = layerChain(config, result.layer).map((i) => config.layers[i]?.blob as Digest);
      const positions = blobs.map((b) => position.get(b));
      if (positions.some((p) => p === undefined)) continue;
      if (positions.every((p, i) => p === i)) results.push({ ...result, layer: blobs.length - 1 });
      else
        chainsOut.push({
          layers: positions as number[],
          ...(result.createdAt ? { createdAt: result.createdAt } : {}),
        });
    }
    return { ...record, results, chains: chainsOut };
  });
  const serialized = JSON.parse(serializeCacheConfig({ layers: [], records })) as { records?: unknown[] };
  return Buffer.from(JSON.stringify(serialized.records ?? [])).toString("base64");
}
