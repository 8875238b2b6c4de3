import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { promisify } from "node:util";
import { constants, createGzip, type Gzip, gzip } from "node:zlib";

/**
 * Level 6, the level Go's gzip.DefaultCompression stands for (what BuildKit's default `gzip` layers use).
 * The bytes still differ from Go's (different deflate implementation), so digests of re-compressed
 * layers never match BuildKit's; only the uncompressed diff IDs can.
 */
export const DEFAULT_GZIP_LEVEL = 6;

/** A gzip compressor for layer blobs. */
export function gzipStream(level: number = DEFAULT_GZIP_LEVEL): Gzip {
  return createGzip({ level, memLevel: constants.Z_DEFAULT_MEMLEVEL });
}

const gzipChunk = promisify(gzip);

/** Deflate may grow incompressible input by a few bytes per 16 KiB block; this covers it and the header. */
const OUTPUT_SLACK = 64 * 1024;

export interface ParallelGzipOptions {
  readonly level?: number;
  /** Input bytes per gzip member; fixed, so the output is deterministic for a given input. */
  readonly chunkSize?: number;
  /** Members compressed at once (zlib runs them on libuv's thread pool). */
  readonly concurrency?: number;
}

/**
 * gzip on every core: the input is cut into fixed-size chunks, each compressed as its own gzip member
 * on the thread pool, and the members are written in order. A multi-member gzip stream is valid gzip
 * (RFC 1952 §2.2) and every layer consumer reads it (Go's gzip.Reader, zlib, GNU gzip, pigz). Deflating
 * a big layer is what dominates a cold export; one core did it alone before. An input that fits in
 * one chunk gives the same bytes as `gzipStream`.
 */
export function parallelGzipStream(options: ParallelGzipOptions = {}): Transform {
  const level = options.level ?? DEFAULT_GZIP_LEVEL;
  const chunkSize = options.chunkSize ?? 4 * 1024 * 1024;
  const concurrency = Math.max(1, options.concurrency ?? Math.min(availableParallelism(), 4));
  // One output buffer per member: with zlib's default 16 KiB, each member took ~130 trips between the
  // thread pool and the main thread, and a main thread busy with synchronous copying stalled them all.
  const zopts = { level, memLevel: constants.Z_DEFAULT_MEMLEVEL, chunkSize: chunkSize + OUTPUT_SLACK };
  let pending: Buffer[] = [];
  let pendingSize = 0;
  let members = 0;
  const inFlight: Promise<Buffer>[] = [];

  const startMember = (data: Buffer) => {
    members++;
    const compressing = gzipChunk(data, zopts);
    compressing.catch(() => {}); // awaited in order below; this only avoids an unhandled rejection
    inFlight.push(compressing);
  };
  const takeChunk = (): Buffer => {
    const all = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingSize);
    const chunk = all.subarray(0, chunkSize);
    const rest = all.subarray(chunkSize);
    pending = rest.length ? [rest] : [];
    pendingSize = rest.length;
    return chunk;
  };

  return new Transform({
    transform(data: Buffer, _encoding, done: TransformCallback) {
      pending.push(data);
      pendingSize += data.length;
      (async () => {
        while (pendingSize >= chunkSize) {
          startMember(takeChunk());
          // Keep at most `concurrency` members in memory: wait for the oldest before reading on.
          while (inFlight.length >= concurrency) this.push(await (inFlight.shift() as Promise<Buffer>));
        }
      })().then(() => done(), done);
    },
    flush(done: TransformCallback) {
      // An empty input still gives one (empty) member, like a plain gzip stream.
      if (pendingSize > 0 || members === 0) startMember(takeChunk());
      (async () => {
        while (inFlight.length > 0) this.push(await (inFlight.shift() as Promise<Buffer>));
      })().then(() => done(), done);
    },
  });
}
