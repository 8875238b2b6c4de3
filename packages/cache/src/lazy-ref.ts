import type { Readable } from "node:stream";
import {
  type BlobReader,
  type CallOptions,
  type ContentStore,
  type Digest,
  digestHex,
  type ImmutableRef,
  KilnError,
  type Layer,
  type Ref,
  sha256,
} from "@kiln/core";
import pLimit from "p-limit";
import type { RefManager } from "./refs.js";

/**
 * A result found in an imported (remote) cache: its layer descriptors are known, its blobs are still
 * remote. Nothing is downloaded until something needs the bytes: `layers()` fetches the blobs into the
 * content store (an image exporter writes them), `materialize()`/`mount()` also applies them as
 * snapshots. A step whose dependents are all cache hits is therefore never downloaded.
 */
export interface LazyRef extends ImmutableRef {
  readonly lazy: true;
  /** Layer descriptors, base first, known without any download. */
  readonly descriptors: readonly Layer[];
  /** Where the blobs come from. */
  readonly source: BlobReader;
  /** Downloads missing blobs and applies them: the equivalent local ref. */
  materialize(o?: CallOptions): Promise<ImmutableRef>;
}

export function isLazyRef(ref: unknown): ref is LazyRef {
  return typeof ref === "object" && ref !== null && (ref as { lazy?: unknown }).lazy === true;
}

/** The ref itself, or for a lazy ref the local ref its blobs turn into. */
export async function materializeRef<R extends Ref>(ref: R, o?: CallOptions): Promise<R | ImmutableRef> {
  return isLazyRef(ref) ? ref.materialize(o) : ref;
}

export interface LazyRefFactory {
  /** `onMaterialized` runs once the blobs are applied (to record the local ref in the local cache). */
  create(
    layers: readonly Layer[],
    source: BlobReader,
    description: string,
    onMaterialized?: (ref: ImmutableRef) => Promise<void>,
  ): LazyRef;
  /** Opens a blob of a lazy ref that is not in the local content store (a cache export copies it). */
  open(layer: Layer, o?: CallOptions): Promise<Readable | undefined>;
}

const FETCH_PARALLELISM = 4;

export function createLazyRefFactory(deps: { refs: RefManager; content: ContentStore }): LazyRefFactory {
  const fetches = new Map<Digest, Promise<void>>();
  const sources = new Map<Digest, BlobReader>();
  const limit = pLimit(FETCH_PARALLELISM);

  function fetchBlob(layer: Layer, source: BlobReader, o?: CallOptions): Promise<void> {
    const digest = layer.blob.digest;
    let flight = fetches.get(digest);
    if (!flight) {
      flight = limit(async () => {
        if (await deps.content.info(digest, o)) return;
        const body = await source.read(layer.blob, o);
        await deps.content.write(body, { digest, size: layer.blob.size }, o);
      }).finally(() => fetches.delete(digest));
      fetches.set(digest, flight);
    }
    return flight;
  }

  function create(
    layers: readonly Layer[],
    source: BlobReader,
    description: string,
    onMaterialized?: (ref: ImmutableRef) => Promise<void>,
  ): LazyRef {
    if (layers.length === 0) throw new KilnError("INTERNAL", "a lazy ref needs at least one layer");
    for (const layer of layers) if (!sources.has(layer.blob.digest)) sources.set(layer.blob.digest, source);
    const chainId = layers.reduce<Digest | undefined>(
      (acc, l) => (acc === undefined ? l.diffId : sha256(`${acc} ${l.diffId}`)),
      undefined,
    ) as Digest;
    let materialized: Promise<ImmutableRef> | undefined;
    const fetchAll = (o?: CallOptions) => Promise.all(layers.map((l) => fetchBlob(l, source, o)));
    const materialize = (o?: CallOptions): Promise<ImmutableRef> => {
      materialized ??= (async () => {
        await fetchAll(o);
        const ref = await deps.refs.fromLayers(layers, description, o);
        // Remembering it locally is an optimisation: a failure here must not fail the step.
        await onMaterialized?.(ref).catch(() => {});
        return ref;
      })();
      materialized.catch(() => {
        materialized = undefined;
      });
      return materialized;
    };
    return {
      lazy: true,
      id: `lazy-${digestHex(chainId)}`,
      get snapshot(): string | undefined {
        throw new KilnError("INTERNAL", `lazy ref ${description} used as a snapshot before materialize()`);
      },
      descriptors: layers,
      source,
      materialize,
      async mount(o) {
        return (await materialize(o)).mount(o);
      },
      async layers(o) {
        await fetchAll(o);
        return [...layers];
      },
    };
  }

  return {
    create,
    async open(layer, o) {
      const source = sources.get(layer.blob.digest);
      return source ? source.read(layer.blob, o) : undefined;
    },
  };
}
