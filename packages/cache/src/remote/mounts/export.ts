import { Readable } from "node:stream";
import {
  type BlobStore,
  type CallOptions,
  type Descriptor,
  type Digest,
  KilnError,
  MediaType,
  sha256,
} from "@kiln/core";
import pLimit from "p-limit";
import { readBlobBytes } from "../blob-io.js";
import {
  MOUNTS_INDEX_MEDIA_TYPE,
  type MountIndexEntry,
  type MountsIndex,
  parseMountsIndex,
} from "./format.js";
import { snapshotMountDir } from "./snapshot.js";

/** The pointer that holds a cache's mounts, beside the BuildKit index `name` (which stays untouched). */
export function mountsPointerName(name: string): string {
  return `${name}-cache-mounts`;
}

/** A cache mount to export: the directory is opened (and its sharing lock taken) only while read. */
export interface CacheMountSource {
  readonly key: Digest;
  readonly id: string;
  open(o?: CallOptions): Promise<{ path: string; release(): Promise<void> }>;
}

export interface ExportCacheMountsOptions extends CallOptions {
  readonly store: BlobStore;
  /** The BuildKit index's pointer name; the mounts go under `mountsPointerName(name)`. */
  readonly name: string;
  /** Total bytes of file content per export; a mount that would pass it is skipped with a warning. */
  readonly maxSize: number;
  readonly warn: (message: string) => void;
  readonly status?: (text: string) => void;
  readonly parallelism?: number;
  readonly maxAttempts?: number;
}

export interface ExportCacheMountsResult {
  readonly exported: number;
  /** Blobs written (packs, large files, trees, the index); blobs the store had are not counted. */
  readonly uploaded: number;
  readonly bytes: number;
}

/**
 * Uploads each mount's snapshot (only blobs the store lacks, checked one by one in parallel), then
 * merges the mounts into the pointer's index by key (ours replace theirs; other mounts stay) with
 * compare-and-swap, retrying on a lost race, as the BuildKit index is merged.
 */
export async function exportCacheMounts(
  mounts: readonly CacheMountSource[],
  opts: ExportCacheMountsOptions,
): Promise<ExportCacheMountsResult> {
  const { store } = opts;
  const o: CallOptions = opts.signal ? { signal: opts.signal } : {};
  const limit = pLimit(opts.parallelism ?? 4);
  let uploaded = 0;
  let budget = opts.maxSize;
  const upload = (desc: Descriptor, open: () => Readable) =>
    limit(async () => {
      if (await store.info(desc.digest, o)) return;
      await store.write(desc, open(), o);
      uploaded++;
    });

  const ours: MountIndexEntry[] = [];
  for (const mount of mounts) {
    const dir = await mount.open(o);
    try {
      opts.status?.(`exporting cache mount ${mount.id}`);
      const snap = await snapshotMountDir(mount.id, dir.path, (blob) => upload(blob.desc, blob.open), {
        ...o,
        maxSize: budget,
      });
      if ("tooLarge" in snap) {
        opts.warn(
          `cache mount ${JSON.stringify(mount.id)} not exported: ${snap.tooLarge} bytes would pass cache-mounts-max-size (${budget} bytes left of ${opts.maxSize})`,
        );
        continue;
      }
      budget -= snap.size;
      await upload(snap.treeDesc, () => Readable.from([snap.treeBytes]));
      ours.push({
        key: mount.key,
        id: mount.id,
        tree: snap.treeDesc,
        blobs: snap.tree.blobs,
        files: snap.files,
        size: snap.size,
        createdAt: new Date().toISOString(),
      });
    } finally {
      await dir.release();
    }
  }
  if (ours.length === 0) return { exported: 0, uploaded, bytes: 0 };

  const name = mountsPointerName(opts.name);
  const maxAttempts = opts.maxAttempts ?? 10;
  for (let attempt = 1; ; attempt++) {
    const current = await store.readPointer(name, o);
    const theirs = current ? await readMountsPointer(store, current.data, o).catch(unreadable) : undefined;
    const mine = new Set(ours.map((m) => m.key));
    const index: MountsIndex = {
      mediaType: MOUNTS_INDEX_MEDIA_TYPE,
      mounts: [...(theirs?.mounts ?? []).filter((m) => !mine.has(m.key)), ...ours],
    };
    const indexBytes = Buffer.from(JSON.stringify(index));
    const indexDesc = {
      mediaType: MOUNTS_INDEX_MEDIA_TYPE,
      digest: sha256(indexBytes),
      size: indexBytes.length,
    };
    await upload(indexDesc, () => Readable.from([indexBytes]));
    const pointer = Buffer.from(JSON.stringify(manifestOf(indexDesc, index)));
    const ok = await store.writePointer(name, pointer, { ...o, expected: current?.version ?? null });
    const confirmed =
      ok &&
      (store.capabilities.conditionalPointers ||
        Buffer.from((await store.readPointer(name, o))?.data ?? []).equals(pointer));
    if (confirmed) {
      return { exported: ours.length, uploaded, bytes: ours.reduce((n, m) => n + m.size, 0) };
    }
    if (attempt >= maxAttempts) {
      throw new KilnError(
        "UNAVAILABLE",
        `cache mounts index ${name} kept changing under concurrent writers`,
        {
          hint: "another build exports cache mounts to the same cache at the same time; retry the export",
        },
      );
    }
    await new Promise((r) => setTimeout(r, Math.random() * 50 * attempt));
  }
}

/** Reads the mounts index a pointer holds (an OCI manifest whose config is the index). */
export async function readMountsPointer(
  store: BlobStore,
  pointer: Uint8Array,
  o?: CallOptions,
): Promise<MountsIndex> {
  let manifest: { config?: Descriptor };
  try {
    manifest = JSON.parse(Buffer.from(pointer).toString("utf8")) as { config?: Descriptor };
  } catch {
    manifest = {};
  }
  if (manifest.config?.mediaType !== MOUNTS_INDEX_MEDIA_TYPE) {
    throw new KilnError("INVALID_ARGUMENT", "cache mounts pointer is not a cache mounts manifest", {
      hint: "the pointer was written by something else; export cache mounts again to replace it",
    });
  }
  return parseMountsIndex(await readBlobBytes(store, manifest.config, o));
}

// --- Internal helpers ---

/**
 * An OCI manifest listing every blob the index needs as a layer: registries garbage-collect blobs no
 * manifest references, and the registry backend stores pointers as manifests.
 */
function manifestOf(config: Descriptor, index: MountsIndex) {
  const layers = new Map<Digest, Descriptor>();
  for (const m of index.mounts) {
    layers.set(m.tree.digest, m.tree);
    for (const b of m.blobs) layers.set(b.digest, b);
  }
  return { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [...layers.values()] };
}

/** An index someone else broke is replaced rather than blocking every future export. */
function unreadable(err: unknown): undefined {
  if (err instanceof KilnError && err.code === "INVALID_ARGUMENT") return undefined;
  throw err;
}
