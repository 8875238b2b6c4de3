import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import {
  type CallOptions,
  type ContentStore,
  type Descriptor,
  type Digest,
  type ImmutableRef,
  KilnError,
  type Layer,
  type MountedTree,
  type Snapshotter,
  sha256,
} from "@kiln/core";
import { applyLayer, mountedPath, snapshotterDiff } from "@kiln/snapshotter";
import { writeGzipLayer } from "./layer-blob.js";
import type { Metadata, RefRow } from "./metadata.js";

/**
 * The ref manager: immutable results as committed snapshots plus their layer blobs.
 *
 * A ref is created by preparing an active snapshot on its parent, filling it, committing it, and only
 * then inserting its row (so rows never point at half-written trees). Layer blobs are computed on first
 * request (diff against the parent, gzip, content store) and remembered in the row, so a layer is never
 * tarred twice. Base-image layers keep their original blobs.
 */
export interface RefManager {
  /** The empty tree (`scratch`). */
  readonly empty: ImmutableRef;
  get(id: string): ImmutableRef;
  /**
   * Runs `fill` on a writable copy of `parent` and commits the result as a new ref. `fill` may hand
   * over the layer of exactly its changes (written while making them), so no diff is needed later.
   */
  build(
    parent: ImmutableRef | undefined,
    description: string,
    fill: (dir: string, setLayer: (layer: Layer) => void) => Promise<void>,
    o?: CallOptions,
  ): Promise<ImmutableRef>;
  /** One ref per layer, shared between builds by OCI chain id; blobs must already be in the content store. */
  fromLayers(layers: readonly Layer[], description: string, o?: CallOptions): Promise<ImmutableRef>;
  /** Removes active snapshots left behind by killed processes. */
  cleanupStale(o?: CallOptions): Promise<void>;
  /**
   * The ref's layers if every blob is already known (computed, pulled, or remote for a lazy ref),
   * else undefined; never computes anything (a `mode=min` cache export asks this of intermediates).
   */
  knownLayers(ref: ImmutableRef): Layer[] | undefined;
}

export interface RefManagerOptions {
  readonly metadata: Metadata;
  readonly snapshotter: Snapshotter;
  readonly content: ContentStore;
}

const EMPTY_ID = "empty";
const ACTIVE_PREFIX = "active-";

export function createRefManager({ metadata, snapshotter, content }: RefManagerOptions): RefManager {
  const blobFlights = new Map<string, Promise<Layer>>();
  const chainFlights = new Map<string, Promise<ImmutableRef>>();

  const activeKey = (kind: string) => `${ACTIVE_PREFIX}${process.pid}-${kind}-${randomUUID()}`;

  async function mountSnapshot(snapshot: string | undefined, o?: CallOptions): Promise<MountedTree> {
    if (snapshot === undefined) {
      const dir = await mkdtemp(join(tmpdir(), "kiln-empty-"));
      return { path: dir, release: () => rm(dir, { recursive: true, force: true }) };
    }
    const key = activeKey("view");
    const mounted = await mountedPath(await snapshotter.view(key, snapshot, o), o);
    return {
      path: mounted.path,
      release: async () => {
        await mounted.release();
        await snapshotter.remove(key);
      },
    };
  }

  async function computeBlob(row: RefRow, o?: CallOptions): Promise<Layer> {
    const parent = row.parent ? metadata.getRef(row.parent) : undefined;
    if (!row.snapshot) throw new KilnError("INTERNAL", `ref ${row.id} has no snapshot to diff`);
    const write = writeGzipLayer(content, o);
    write.stored.catch(() => {});
    // The snapshotter picks the cheapest diff it can (an overlay upperdir walk, else a double walk).
    const diff = await snapshotterDiff(
      snapshotter,
      row.snapshot,
      parent?.snapshot ?? undefined,
      write.tar,
      o,
    ).catch((err: unknown) => {
      write.tar.destroy(err as Error);
      throw err;
    });
    const written = await write.stored;
    const blob = { ...written, diffId: diff.diffId };
    metadata.setRefBlob(row.id, blob);
    // Another process may have stored its blob first; the row keeps whichever came first.
    const stored = metadata.getRef(row.id) ?? row;
    return (
      layerOf(stored) ?? {
        blob: { mediaType: blob.mediaType, digest: blob.digest, size: blob.size },
        diffId: blob.diffId,
      }
    );
  }

  function ensureLayer(row: RefRow, o?: CallOptions): Promise<Layer> {
    const known = layerOf(row);
    if (known) return Promise.resolve(known);
    let flight = blobFlights.get(row.id);
    if (!flight) {
      flight = computeBlob(row, o).finally(() => blobFlights.delete(row.id));
      blobFlights.set(row.id, flight);
    }
    return flight;
  }

  function refFromRow(row: RefRow): ImmutableRef {
    return {
      id: row.id,
      snapshot: row.snapshot ?? undefined,
      mount: (o) => mountSnapshot(row.snapshot ?? undefined, o),
      async layers(o) {
        const chain: RefRow[] = [];
        for (let r: RefRow | undefined = metadata.getRef(row.id) ?? row; r; ) {
          chain.unshift(r);
          r = r.parent ? metadata.getRef(r.parent) : undefined;
        }
        return Promise.all(chain.map((r) => ensureLayer(r, o)));
      },
    };
  }

  const empty: ImmutableRef = {
    id: EMPTY_ID,
    snapshot: undefined,
    mount: (o) => mountSnapshot(undefined, o),
    layers: async () => [],
  };

  function get(id: string): ImmutableRef {
    if (id === EMPTY_ID) return empty;
    const row = metadata.getRef(id);
    if (!row) throw new KilnError("NOT_FOUND", `ref ${id} not found in the store`);
    metadata.touchRef(id);
    return refFromRow(row);
  }

  async function build(
    parent: ImmutableRef | undefined,
    description: string,
    fill: (dir: string, setLayer: (layer: Layer) => void) => Promise<void>,
    o?: CallOptions,
    known?: Layer,
  ): Promise<ImmutableRef> {
    let blob = known;
    const key = activeKey("build");
    const parentSnapshot = parent?.snapshot;
    const mounts = await snapshotter.prepare(key, parentSnapshot, o);
    const id = randomUUID();
    const name = `ref-${id}`;
    try {
      const mounted = await mountedPath(mounts, o);
      try {
        await fill(mounted.path, (layer) => {
          blob = layer;
        });
      } finally {
        await mounted.release();
      }
      await snapshotter.commit(name, key, o);
    } catch (err) {
      await snapshotter.remove(key).catch(() => {});
      throw err;
    }
    const row: Omit<RefRow, "last_used"> = {
      id,
      snapshot: name,
      parent: parent && parent.id !== EMPTY_ID ? parent.id : null,
      description,
      blob_digest: blob?.blob.digest ?? null,
      blob_size: blob?.blob.size ?? null,
      blob_media_type: blob?.blob.mediaType ?? null,
      diff_id: blob?.diffId ?? null,
      created_at: Date.now(),
    };
    metadata.insertRef(row);
    return refFromRow({ ...row, last_used: row.created_at });
  }

  async function applyOne(
    parent: ImmutableRef,
    layer: Layer,
    chainId: Digest,
    description: string,
    o?: CallOptions,
  ) {
    const existing = metadata.getChain(chainId);
    if (existing && metadata.getRef(existing)) return get(existing);
    const ref = await build(
      parent.id === EMPTY_ID ? undefined : parent,
      description,
      async (dir) => {
        const body = await content.read(layer.blob.digest, o);
        const tar = new PassThrough();
        const decompressing = pipeline(body, decompressorFor(layer.blob), tar, { signal: o?.signal });
        const applied = await Promise.all([applyLayer(tar, dir, o), decompressing]);
        if (applied[0].diffId !== layer.diffId) {
          throw new KilnError(
            "DATA_LOSS",
            `layer ${layer.blob.digest} does not match its diff id ${layer.diffId}`,
            {
              hint: "the base image is corrupt; re-create the OCI layout it comes from",
            },
          );
        }
      },
      o,
      layer,
    );
    metadata.putChain(chainId, ref.id);
    return get(metadata.getChain(chainId) ?? ref.id);
  }

  async function fromLayers(
    layers: readonly Layer[],
    description: string,
    o?: CallOptions,
  ): Promise<ImmutableRef> {
    let current: ImmutableRef = empty;
    let chainId: Digest | undefined;
    for (const layer of layers) {
      chainId = chainId === undefined ? layer.diffId : sha256(`${chainId} ${layer.diffId}`);
      const id = chainId;
      const parent = current;
      let flight = chainFlights.get(id);
      if (!flight) {
        flight = applyOne(parent, layer, id, description, o).finally(() => chainFlights.delete(id));
        chainFlights.set(id, flight);
      }
      current = await flight;
    }
    return current;
  }

  async function cleanupStale(o?: CallOptions): Promise<void> {
    const stale: string[] = [];
    await snapshotter.walk((info) => {
      if (info.kind === "committed" || !info.name.startsWith(ACTIVE_PREFIX)) return;
      const pid = Number(info.name.slice(ACTIVE_PREFIX.length).split("-")[0]);
      if (!isAlive(pid)) stale.push(info.name);
    }, o);
    for (const key of stale) await snapshotter.remove(key, o).catch(() => {});
  }

  function knownLayers(ref: ImmutableRef): Layer[] | undefined {
    const lazy = (ref as { lazy?: boolean; descriptors?: readonly Layer[] }).descriptors;
    if ((ref as { lazy?: boolean }).lazy === true && lazy) return [...lazy];
    if (ref.id === EMPTY_ID) return [];
    const chain: Layer[] = [];
    for (let r = metadata.getRef(ref.id); r; r = r.parent ? metadata.getRef(r.parent) : undefined) {
      const layer = layerOf(r);
      if (!layer) return undefined;
      chain.unshift(layer);
    }
    return chain.length > 0 ? chain : undefined;
  }

  return {
    empty,
    get,
    build: (p, d, f, o) => build(p, d, f, o),
    fromLayers,
    cleanupStale,
    knownLayers,
  };
}

// --- Internal helpers ---

function layerOf(row: RefRow): Layer | undefined {
  if (!row.blob_digest || !row.diff_id || row.blob_size === null || !row.blob_media_type) return undefined;
  const blob: Descriptor = {
    mediaType: row.blob_media_type,
    digest: row.blob_digest as Digest,
    size: row.blob_size,
  };
  return { blob, diffId: row.diff_id as Digest };
}

function decompressorFor(blob: Descriptor): NodeJS.ReadWriteStream {
  if (blob.mediaType.endsWith("gzip")) return createGunzip();
  if (blob.mediaType.endsWith("zstd")) {
    throw new KilnError("NOT_IMPLEMENTED", `zstd layers are not supported yet (${blob.digest})`);
  }
  return new PassThrough();
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
