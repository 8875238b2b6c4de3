import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { open, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { addAbortSignal, Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  type CallOptions,
  type ContentInfo,
  type ContentStore,
  type Digest,
  digestHex,
  isKilnError,
  KilnError,
  parseDigest,
  throwIfAborted,
} from "@kiln/core";

export interface ContentStoreOptions {
  /** Directory holding `blobs/sha256/<hex>` and `ingest/`. Created when missing. */
  readonly root: string;
  /**
   * Temp files in `ingest/` untouched for this long are leftovers of a crashed writer and are removed
   * on open. Younger ones may belong to another process writing right now, so they are left alone.
   */
  readonly staleIngestAfterMs?: number;
}

const DEFAULT_STALE_INGEST_MS = 10 * 60 * 1000;

/** A content store on the local filesystem (layout compatible with an OCI layout's `blobs/`). */
export function createContentStore(options: ContentStoreOptions): ContentStore {
  const blobsDir = join(options.root, "blobs", "sha256");
  const ingestDir = join(options.root, "ingest");
  mkdirSync(blobsDir, { recursive: true });
  mkdirSync(ingestDir, { recursive: true });
  removeStaleIngests(ingestDir, options.staleIngestAfterMs ?? DEFAULT_STALE_INGEST_MS);

  const path = (digest: Digest): string => join(blobsDir, digestHex(parseDigest(digest)));

  const info = async (digest: Digest): Promise<ContentInfo | undefined> => {
    try {
      const st = await stat(path(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (errno(err) === "ENOENT") return undefined;
      throw err;
    }
  };

  const notFound = (digest: Digest, cause: unknown): KilnError =>
    new KilnError("NOT_FOUND", `blob ${digest} not found in content store ${options.root}`, {
      cause,
      hint: "the blob was never written or was garbage-collected; rebuild to recreate it",
    });

  return {
    info: (digest, o) => {
      throwIfAborted(o?.signal);
      return info(digest);
    },
    path,
    async read(digest, o) {
      throwIfAborted(o?.signal);
      let handle: Awaited<ReturnType<typeof open>>;
      try {
        handle = await open(path(digest), "r");
      } catch (err) {
        throw errno(err) === "ENOENT" ? notFound(digest, err) : err;
      }
      const stream = handle.createReadStream();
      return o?.signal ? addAbortSignal(o.signal, stream) : stream;
    },
    async readBytes(digest, o) {
      throwIfAborted(o?.signal);
      try {
        return await readFile(path(digest), { signal: o?.signal });
      } catch (err) {
        throw errno(err) === "ENOENT" ? notFound(digest, err) : canceledOr(err, o);
      }
    },
    async write(body, expected = {}, o) {
      throwIfAborted(o?.signal);
      if (expected.size !== undefined && !(Number.isSafeInteger(expected.size) && expected.size >= 0)) {
        throw new KilnError("INVALID_ARGUMENT", `invalid expected blob size ${expected.size}`);
      }
      if (expected.digest !== undefined) {
        const existing = await info(parseDigest(expected.digest));
        if (existing && (expected.size === undefined || existing.size === expected.size)) {
          // Already stored: the body is read to its end (so a producer piping into it finishes) but not kept.
          await discard(body, o);
          return existing;
        }
      }
      const tmp = join(ingestDir, `${Date.now().toString(36)}-${randomBytes(8).toString("hex")}`);
      try {
        const { digest, size } = await ingest(body, tmp, expected.size, o);
        if (expected.digest !== undefined && digest !== expected.digest) {
          throw new KilnError(
            "DATA_LOSS",
            `blob digest mismatch: expected ${expected.digest}, got ${digest}`,
            {
              hint: "the source changed or was corrupted while it was read",
              details: { expected: expected.digest, actual: digest },
            },
          );
        }
        if (expected.size !== undefined && size !== expected.size) {
          throw sizeMismatch(expected.size, size);
        }
        const target = path(digest);
        // Same digest means same bytes: when another writer got there first, its file is as good as ours.
        if ((await info(digest)) === undefined) {
          await rename(tmp, target);
          await syncDirectory(blobsDir);
        }
        return { digest, size };
      } catch (err) {
        throw canceledOr(err, o);
      } finally {
        await rm(tmp, { force: true });
      }
    },
  };
}

async function ingest(
  body: Readable | Uint8Array,
  tmp: string,
  expectedSize: number | undefined,
  o: CallOptions | undefined,
): Promise<ContentInfo> {
  const hash = createHash("sha256");
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      // Fail early instead of filling the disk with a stream that is already too long.
      if (expectedSize !== undefined && size > expectedSize)
        return callback(sizeMismatch(expectedSize, size));
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const source = body instanceof Uint8Array ? Readable.from([Buffer.from(body)]) : body;
  // `flush: true` fsyncs before close, so the rename below never exposes a file whose data is not on disk.
  const sink = createWriteStream(tmp, { flags: "wx", mode: 0o644, flush: true });
  await pipeline(source, counter, sink, o?.signal ? { signal: o.signal } : {});
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

function sizeMismatch(expected: number, actual: number): KilnError {
  return new KilnError("DATA_LOSS", `blob size mismatch: expected ${expected} bytes, got ${actual}`, {
    hint: "the source is truncated or not the blob its descriptor describes",
    details: { expected, actual },
  });
}

async function discard(body: Readable | Uint8Array, o: CallOptions | undefined): Promise<void> {
  if (body instanceof Uint8Array) return;
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  await pipeline(body, sink, o?.signal ? { signal: o.signal } : {});
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic there.
  } finally {
    await handle.close();
  }
}

function removeStaleIngests(ingestDir: string, staleAfterMs: number): void {
  const cutoff = Date.now() - staleAfterMs;
  for (const name of readdirSync(ingestDir)) {
    const file = join(ingestDir, name);
    try {
      if (statSync(file).mtimeMs < cutoff) rmSync(file, { force: true, recursive: true });
    } catch {
      // Another process removed or renamed it meanwhile.
    }
  }
}

function canceledOr(err: unknown, o: CallOptions | undefined): unknown {
  if (isKilnError(err)) return err;
  if (o?.signal?.aborted) return new KilnError("CANCELED", "blob write canceled", { cause: o.signal.reason });
  return err;
}

export function errno(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : undefined;
}
