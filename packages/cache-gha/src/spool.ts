import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { type Descriptor, digestHex, isKilnError, KilnError, throwIfAborted } from "@kiln/core";
import type { BlobSource } from "./api.js";

export interface SpooledBlob extends BlobSource {
  release(): Promise<void>;
}

/**
 * Reads a body to its end while hashing it, in memory up to `memoryMax` bytes and in a temp file
 * beyond, and checks digest and size *before* anything reaches the service: an entry, once reserved,
 * cannot be withdrawn, so a bad body must never get that far (DATA_LOSS, nothing reserved).
 */
export async function spoolVerified(
  desc: Descriptor,
  body: Readable,
  memoryMax: number,
  signal: AbortSignal | undefined,
): Promise<SpooledBlob> {
  const hash = createHash("sha256");
  const chunks: Buffer[] = [];
  let size = 0;
  let file: { dir: string; path: string; out: ReturnType<typeof createWriteStream> } | undefined;
  const release = async () => {
    if (file) await rm(file.dir, { recursive: true, force: true });
  };
  // A stalled body never yields again, so the loop below only notices an abort if the body is
  // destroyed under it; the destroy wakes the pending read with an error.
  const onAbort = () =>
    body.destroy(new KilnError("CANCELED", "operation canceled", { cause: signal?.reason }));
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const chunk of body) {
      throwIfAborted(signal);
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      hash.update(buf);
      size += buf.length;
      if (size > desc.size) break;
      if (!file && size > memoryMax) {
        const dir = await mkdtemp(join(tmpdir(), "kiln-gha-"));
        file = { dir, path: join(dir, "blob"), out: createWriteStream(join(dir, "blob")) };
        for (const c of chunks.splice(0)) if (!file.out.write(c)) await onceDrain(file.out);
      }
      if (file) {
        if (!file.out.write(buf)) await onceDrain(file.out);
      } else {
        chunks.push(buf);
      }
    }
    if (file) {
      file.out.end();
      await finished(file.out);
    }
  } catch (err) {
    body.destroy();
    file?.out.destroy();
    await release();
    if (signal?.aborted) throw new KilnError("CANCELED", "operation canceled", { cause: signal.reason });
    if (isKilnError(err)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new KilnError("INTERNAL", `blob ${desc.digest}: reading the blob to upload failed: ${message}`, {
      cause: err,
    });
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  const actual = hash.digest("hex");
  if (size !== desc.size || actual !== digestHex(desc.digest)) {
    body.destroy();
    await release();
    throw new KilnError(
      "DATA_LOSS",
      size !== desc.size
        ? `blob ${desc.digest}: expected ${desc.size} bytes, got ${size > desc.size ? "more" : size}`
        : `blob ${desc.digest}: content has digest sha256:${actual}`,
    );
  }
  if (file) {
    const path = file.path;
    return { size, slice: (start, end) => sliceFile(path, start, end), release };
  }
  const data = Buffer.concat(chunks);
  return { size, slice: (start, end) => data.subarray(start, end), release };
}

function sliceFile(path: string, start: number, end: number): Readable {
  // createReadStream's `end` is inclusive; an empty slice must not read byte `start`.
  return end <= start ? Readable.from([]) : createReadStream(path, { start, end: end - 1 });
}

const onceDrain = (stream: NodeJS.WritableStream) =>
  new Promise<void>((resolve) => stream.once("drain", resolve));
