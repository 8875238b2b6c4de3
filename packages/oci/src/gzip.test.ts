import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { gzipStream, parallelGzipStream } from "./gzip.js";

const compress = (data: Buffer, stream: NodeJS.ReadWriteStream, piece = 65_536) => {
  const pieces = Array.from({ length: Math.ceil(data.length / piece) }, (_, i) =>
    data.subarray(i * piece, (i + 1) * piece),
  );
  return buffer(Readable.from(pieces).pipe(stream));
};

// Half random, half repetitive: both deflate paths (stored and compressed blocks) are exercised.
const sample = (size: number) =>
  Buffer.concat([randomBytes(size / 2), Buffer.alloc(size / 2, "kiln layer data ")]);

describe("parallelGzipStream", () => {
  it("writes a multi-member gzip that zlib and GNU gzip read back byte for byte", async () => {
    const data = sample(3 * 1024 * 1024 + 12_345);
    const gz = await compress(data, parallelGzipStream({ chunkSize: 256 * 1024, concurrency: 3 }));
    expect(gunzipSync(gz).equals(data)).toBe(true);
    const gnu = spawnSync("gzip", ["-dc"], { input: gz, maxBuffer: 64 * 1024 * 1024 });
    expect(gnu.status).toBe(0);
    expect(Buffer.from(gnu.stdout).equals(data)).toBe(true);
  });

  it("is deterministic whatever the input pieces and the concurrency", async () => {
    const data = sample(2 * 1024 * 1024);
    const a = await compress(data, parallelGzipStream({ chunkSize: 300_000, concurrency: 1 }), 1000);
    const b = await compress(data, parallelGzipStream({ chunkSize: 300_000, concurrency: 4 }), 777_777);
    expect(a.equals(b)).toBe(true);
  });

  it("gives gzipStream's exact bytes for an input within one chunk, and a valid empty gzip", async () => {
    const data = sample(100_000);
    const single = await compress(data, parallelGzipStream());
    expect(single.equals(await compress(data, gzipStream()))).toBe(true);
    const empty = await compress(Buffer.alloc(0), parallelGzipStream());
    expect(gunzipSync(empty).length).toBe(0);
  });
});
