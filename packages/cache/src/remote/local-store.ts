import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { addAbortSignal, Transform } from "node:stream";
import {
  type BlobStore,
  type CallOptions,
  type Descriptor,
  type Digest,
  digestHex,
  isKilnError,
  KilnError,
  MediaType,
  sha256,
  throwIfAborted,
} from "@kiln/core";
import { createContentStore } from "@kiln/oci";

export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
const LOCK_STALE_MS = 60_000;
const LOCK_TIMEOUT_MS = 60_000;

interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  [extra: string]: unknown;
}

/**
 * The `local` cache backend: an OCI image layout directory, as BuildKit writes it for
 * `--cache-to type=local,dest=DIR`. Blobs live in `blobs/sha256/`; a pointer is an `index.json` entry
 * whose `org.opencontainers.image.ref.name` is the pointer's name (the `tag` attribute) and whose
 * target blob holds the pointer's bytes (the cache manifest). The version of a pointer is that blob's
 * digest. `index.json` changes only under the lock file `index.json.lock` (created exclusively), so
 * compare-and-swap is atomic between processes.
 */
export function createLocalBlobStore(dir: string): BlobStore {
  let ready: Promise<ReturnType<typeof createContentStore>> | undefined;
  // Only writers create the layout: importing from a missing directory must not create it.
  const content = () => {
    ready ??= (async () => {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
      return createContentStore({ root: dir });
    })();
    return ready;
  };
  const indexPath = join(dir, "index.json");
  const blobPath = (digest: Digest) => join(dir, "blobs", "sha256", digestHex(digest));
  const notFound = (digest: Digest, cause?: unknown) =>
    new KilnError("NOT_FOUND", `blob ${digest} not found in the cache directory ${dir}`, {
      ...(cause ? { cause } : {}),
    });

  async function readIndex(): Promise<OciIndex> {
    try {
      const parsed = JSON.parse(await readFile(indexPath, "utf8")) as OciIndex;
      return { ...parsed, manifests: Array.isArray(parsed.manifests) ? parsed.manifests : [] };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
      }
      throw new KilnError("DATA_LOSS", `cannot read ${indexPath}`, { cause: err });
    }
  }

  const entryOf = (index: OciIndex, name: string) =>
    index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === name);

  return {
    type: "local",
    capabilities: { rangeReads: false, touch: false, conditionalPointers: true },
    async info(digest, o) {
      throwIfAborted(o?.signal);
      try {
        const st = await stat(blobPath(digest));
        return { size: st.size, updatedAt: st.mtime };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw err;
      }
    },
    async read(desc, o) {
      throwIfAborted(o?.signal);
      const handle = await open(blobPath(desc.digest), "r").catch((err: NodeJS.ErrnoException) => {
        throw err.code === "ENOENT" ? notFound(desc.digest, err) : err;
      });
      const body = handle.createReadStream();
      if (o?.signal) addAbortSignal(o.signal, body);
      const verified = verifying(desc);
      body.on("error", (err) => verified.destroy(err));
      return body.pipe(verified);
    },
    async write(desc, body, o) {
      throwIfAborted(o?.signal);
      try {
        await (await content()).write(body, { digest: desc.digest, size: desc.size }, o);
      } catch (err) {
        throw writeFailure(desc, dir, err);
      }
    },
    async readPointer(name, o) {
      throwIfAborted(o?.signal);
      const entry = entryOf(await readIndex(), name);
      if (!entry) return undefined;
      const data = await readFile(blobPath(entry.digest), { signal: o?.signal }).catch((err) => {
        throw (err as NodeJS.ErrnoException).code === "ENOENT" ? notFound(entry.digest, err) : err;
      });
      return { data, version: entry.digest };
    },
    async writePointer(name, data, o) {
      throwIfAborted(o?.signal);
      const store = await content();
      const digest = sha256(data);
      await store.write(Buffer.from(data), { digest, size: data.byteLength }, o);
      return withLock(`${indexPath}.lock`, o, async () => {
        const index = await readIndex();
        const current = entryOf(index, name);
        if (o?.expected !== undefined) {
          const matches = o.expected === null ? !current : current?.digest === o.expected;
          if (!matches) return false;
        }
        const entry: Descriptor = {
          mediaType: mediaTypeOf(data),
          digest,
          size: data.byteLength,
          annotations: { [REF_NAME_ANNOTATION]: name },
        };
        const manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== name);
        const next = { ...index, manifests: [...manifests, entry] };
        const tmp = `${indexPath}.${process.pid}.tmp`;
        await writeFile(tmp, `${JSON.stringify(next)}\n`);
        await rename(tmp, indexPath);
        return true;
      });
    },
  };
}

// --- Internal helpers ---

/**
 * Bad bytes and cancellation arrive as KilnErrors already; anything else is the body's source or the
 * disk failing part-way (the content store removed its temp file), which a later attempt may not meet.
 */
function writeFailure(desc: Descriptor, dir: string, err: unknown): unknown {
  if (isKilnError(err)) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new KilnError(
    "UNAVAILABLE",
    `cannot write blob ${desc.digest} to the cache directory ${dir}: ${reason}`,
    {
      cause: err,
      hint: "the blob's source or the disk failed while it was copied; nothing was stored, retry the export",
    },
  );
}

function mediaTypeOf(data: Uint8Array): string {
  try {
    const parsed = JSON.parse(Buffer.from(data).toString("utf8")) as { mediaType?: unknown };
    if (typeof parsed.mediaType === "string") return parsed.mediaType;
  } catch {}
  return MediaType.OciManifest;
}

/** Fails the stream with DATA_LOSS when the bytes read do not hash to the descriptor's digest. */
function verifying(desc: Descriptor): Transform {
  const hash = createHash("sha256");
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      const digest = `sha256:${hash.digest("hex")}` as Digest;
      if (digest !== desc.digest || size !== desc.size) {
        callback(
          new KilnError("DATA_LOSS", `cache blob ${desc.digest} is corrupt (read ${digest}, ${size} bytes)`),
        );
      } else callback();
    },
  });
}

/** Runs `fn` holding an exclusively created lock file; a lock whose holder died is taken over. */
async function withLock<T>(path: string, o: CallOptions | undefined, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(o?.signal);
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(`${process.pid} ${Date.now()}`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (await isStale(path)) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new KilnError("UNAVAILABLE", `timed out waiting for the lock ${path}`, {
          hint: "another kiln process holds it; remove the file if no such process is running",
        });
      }
      await new Promise((r) => setTimeout(r, Math.min(200, 10 + attempt * 5) * (0.5 + Math.random())));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

async function isStale(path: string): Promise<boolean> {
  try {
    const [pid, since] = (await readFile(path, "utf8")).split(" ").map(Number);
    // Empty: its creator is writing it right now, or died in between (then the file gets old).
    if (!pid || !since) return Date.now() - (await stat(path)).mtimeMs > 5_000;
    if (Date.now() - since > LOCK_STALE_MS) return true;
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== "EPERM";
    }
  } catch {
    return false;
  }
}
