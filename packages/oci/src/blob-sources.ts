import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Readable, Transform } from "node:stream";
import { buffer as readAll } from "node:stream/consumers";
import {
  type CallOptions,
  type ContentStore,
  type Descriptor,
  type Digest,
  isIndexMediaType,
  isManifestMediaType,
  KilnError,
  throwIfAborted,
} from "@kiln/core";
import type { ImageIndex, ImageManifest } from "./types.js";

/** Where a blob's bytes come from: a stream, a host file path, or bytes. */
export type BlobSource = Readable | string | Uint8Array;
export type BlobProvider = (digest: Digest) => BlobSource | Promise<BlobSource>;

/** What goes into an archive or layout: an index plus access to every blob it reaches. */
export interface ImageContent {
  readonly index: ImageIndex;
  readonly blobs: BlobProvider;
}

/** A blob provider reading host paths of a content store (zero-copy friendly, nothing buffered). */
export function blobsFromContentStore(store: ContentStore): BlobProvider {
  return (digest) => store.path(digest);
}

export interface PlannedBlob {
  readonly descriptor: Descriptor;
  /** Bytes of manifests and indexes, read once while walking the graph. */
  readonly bytes?: Buffer;
}

export interface ContentPlan {
  /** Every blob reachable from the index, by digest, in discovery order. */
  readonly blobs: ReadonlyMap<Digest, PlannedBlob>;
  /** Image manifests reached, with the index.json entry they were reached from. */
  readonly images: readonly {
    readonly entry: Descriptor;
    readonly digest: Digest;
    readonly manifest: ImageManifest;
  }[];
}

const MAX_JSON_BLOB = 16 * 1024 * 1024;

/** Walks index → manifests → config/layers, reading only manifests and indexes. */
export async function planContent(content: ImageContent, o?: CallOptions): Promise<ContentPlan> {
  const blobs = new Map<Digest, PlannedBlob>();
  const images: { entry: Descriptor; digest: Digest; manifest: ImageManifest }[] = [];
  const visit = async (desc: Descriptor, entry: Descriptor, depth: number): Promise<void> => {
    throwIfAborted(o?.signal);
    const isIndex = isIndexMediaType(desc.mediaType);
    if (!isIndex && !isManifestMediaType(desc.mediaType)) {
      if (!blobs.has(desc.digest)) blobs.set(desc.digest, { descriptor: desc });
      return;
    }
    if (depth > 8) throw new KilnError("INVALID_ARGUMENT", "image indexes nested too deeply");
    if (desc.size > MAX_JSON_BLOB) {
      throw new KilnError(
        "INVALID_ARGUMENT",
        `${desc.mediaType} ${desc.digest} is implausibly large (${desc.size} bytes)`,
      );
    }
    const bytes = blobs.get(desc.digest)?.bytes ?? (await readSmall(content.blobs, desc, o));
    blobs.set(desc.digest, { descriptor: desc, bytes });
    let body: ImageIndex & ImageManifest;
    try {
      body = JSON.parse(bytes.toString("utf8")) as ImageIndex & ImageManifest;
    } catch (err) {
      throw new KilnError("INVALID_ARGUMENT", `${desc.mediaType} ${desc.digest} is not valid JSON`, {
        cause: err,
      });
    }
    if (isIndex) {
      for (const child of body.manifests ?? []) await visit(child, entry, depth + 1);
      return;
    }
    images.push({ entry, digest: desc.digest, manifest: body });
    await visit(body.config, entry, depth + 1);
    for (const layer of body.layers ?? []) await visit(layer, entry, depth + 1);
  };
  for (const entry of content.index.manifests) await visit(entry, entry, 0);
  return { blobs, images };
}

async function readSmall(provider: BlobProvider, desc: Descriptor, o?: CallOptions): Promise<Buffer> {
  const stream = await openVerified(provider, desc, o);
  return readAll(stream);
}

/**
 * The blob as a stream that fails with DATA_LOSS when its bytes do not match the descriptor (size or
 * digest). Sizes are checked chunk by chunk, so an over-long source fails before it is all read.
 */
export async function openVerified(
  provider: BlobProvider,
  desc: Descriptor,
  o?: CallOptions,
): Promise<Readable> {
  throwIfAborted(o?.signal);
  let source: BlobSource;
  try {
    source = await provider(desc.digest);
  } catch (err) {
    if (err instanceof KilnError) throw err;
    throw new KilnError("NOT_FOUND", `blob ${desc.digest} (${desc.mediaType}) is not available`, {
      cause: err,
    });
  }
  const stream =
    typeof source === "string"
      ? createReadStream(source, o?.signal ? { signal: o.signal } : {})
      : source instanceof Uint8Array
        ? Readable.from([Buffer.from(source)])
        : source;
  const checked = verifier(desc);
  stream.on("error", (err: Error) => {
    const missing = typeof source === "string" && (err as { code?: string }).code === "ENOENT";
    checked.destroy(
      missing
        ? new KilnError("NOT_FOUND", `blob ${desc.digest} not found at ${source}`, { cause: err })
        : err,
    );
  });
  // Whoever stops reading the checked stream early also releases the source (file descriptor).
  checked.on("close", () => stream.destroy());
  return stream.pipe(checked);
}

function verifier(desc: Descriptor): Transform {
  const hash = createHash("sha256");
  let size = 0;
  const fail = (why: string): KilnError =>
    new KilnError("DATA_LOSS", `blob ${desc.digest} does not match its descriptor: ${why}`, {
      hint: "the stored blob is corrupted or the descriptor is wrong; rebuild to recreate it",
    });
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > desc.size) return callback(fail(`more than ${desc.size} bytes`));
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      if (size !== desc.size) return callback(fail(`${size} bytes instead of ${desc.size}`));
      const actual = `sha256:${hash.digest("hex")}`;
      callback(actual === desc.digest ? null : fail(`digest is ${actual}`));
    },
  });
}
