import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { PassThrough, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { KilnError } from "@kiln/core";
import { isTarHeader } from "./tar-reader.js";

export type Compression = "none" | "gzip" | "bzip2" | "xz" | "zstd";

/** Compression of a stream judged by its magic bytes (what Docker's DecompressStream recognises). */
export function compressionOf(head: Uint8Array): Compression {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b, 0x08)) return "gzip";
  if (starts(0x42, 0x5a, 0x68)) return "bzip2";
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  return "none";
}

const TOOLS = { bzip2: "bzip2", xz: "xz", zstd: "zstd" } as const;

/**
 * The decompressed bytes of a file. gzip runs in-process; bzip2, xz and zstd go through the system
 * tools (Node 20's zlib has none of them), FAILED_PRECONDITION when the tool is missing or fails.
 */
export function decompressedStream(host: string, compression: Compression): Readable {
  const file = createReadStream(host);
  if (compression === "none") return file;
  if (compression === "gzip") {
    const gunzip = createGunzip();
    file.on("error", (err) => gunzip.destroy(err));
    return file.pipe(gunzip);
  }
  const tool = TOOLS[compression];
  const out = new PassThrough();
  const child = spawn(tool, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin.on("error", () => undefined); // EPIPE when the reader stops early
  file.on("error", (err) => out.destroy(err));
  file.pipe(child.stdin);
  child.stdout.pipe(out, { end: false });
  child.on("error", (err) => {
    out.destroy(
      new KilnError("FAILED_PRECONDITION", `cannot decompress ${compression} archive: ${err.message}`, {
        cause: err,
        hint: `install the ${tool} tool to ADD ${compression} archives`,
      }),
    );
  });
  child.on("close", (code, signal) => {
    if (code === 0) out.end();
    else if (!out.destroyed && signal === null) {
      out.destroy(new KilnError("DATA_LOSS", `${tool} failed to decompress the archive: ${stderr.trim()}`));
    }
  });
  out.on("close", () => {
    if (child.exitCode === null) child.kill();
    file.destroy();
  });
  return out;
}

/**
 * The compression of `host` when it is a (possibly compressed) tar archive, else undefined: the first
 * 512 decompressed bytes must be a tar header with a valid checksum, which is how Docker's ADD decides
 * to unpack. A compressed file whose tool is missing is an error, not "not an archive".
 */
export async function tarArchiveCompression(host: string): Promise<Compression | undefined> {
  const handle = await open(host, "r");
  let head: Buffer;
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(6), 0, 6, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const compression = compressionOf(head);
  const block = await readPrefix(decompressedStream(host, compression), 512, compression !== "none");
  return isTarHeader(block) ? compression : undefined;
}

async function readPrefix(stream: Readable, n: number, failLoudly: boolean): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= n) break;
    }
  } catch (err) {
    // A corrupt compressed file is "not an archive" (copied as is); a missing tool is a real error.
    if (failLoudly && err instanceof KilnError && err.code === "FAILED_PRECONDITION") throw err;
    return Buffer.alloc(0);
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}
