import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type CallOptions, KilnError } from "@kiln/core";
import tar from "tar-stream";

/** One tar entry. Bodies are streamed one at a time, so any number of large files costs no memory. */
export interface TarEntry {
  readonly name: string;
  readonly type: "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";
  /** Permission bits (0o7777 range). */
  readonly mode: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Seconds since the Unix epoch. */
  readonly mtime: number;
  readonly size?: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** File content: bytes, or a function opening a stream of exactly `size` bytes. */
  readonly body?: Uint8Array | (() => Promise<Readable> | Readable);
}

export interface PackOptions extends CallOptions {
  /** End `out` when the archive is complete (default true; pass false for process.stdout). */
  readonly end?: boolean;
}

const TYPE_BITS: Record<TarEntry["type"], number> = {
  file: 0o100000,
  directory: 0o040000,
  symlink: 0o120000,
  link: 0o100000,
  "character-device": 0o020000,
  "block-device": 0o060000,
  fifo: 0o010000,
};

/**
 * Writes `entries` in the given order as a tar stream to `out`. Headers carry no user/group names;
 * names longer than ustar allows, or not ASCII, get PAX headers.
 */
export async function packTar(
  out: Writable,
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  o?: PackOptions,
): Promise<void> {
  const pack = tar.pack();
  // tar-stream's pack is a streamx stream; Node's pipeline would pipe it with streamx's own pipe(),
  // which always ends the destination (even process.stdout). A Node Readable over it honours `end`.
  const source = Readable.from(pack, { objectMode: false });
  const piped = pipeline(source, out, { end: o?.end ?? true, ...(o?.signal ? { signal: o.signal } : {}) });
  const fill = async (): Promise<void> => {
    for await (const entry of entries) {
      if (o?.signal?.aborted)
        throw new KilnError("CANCELED", "archive write canceled", { cause: o.signal.reason });
      await addEntry(pack, entry);
    }
    pack.finalize();
  };
  const filled = fill().catch((err: unknown) => {
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  });
  // The entry error is the interesting one; the pipeline then fails only because the pack was destroyed.
  const [fillResult, pipeResult] = await Promise.allSettled([filled, piped]);
  if (fillResult.status === "rejected") throw fillResult.reason;
  if (pipeResult.status === "rejected") {
    if (o?.signal?.aborted)
      throw new KilnError("CANCELED", "archive write canceled", { cause: o.signal.reason });
    throw pipeResult.reason;
  }
}

async function addEntry(pack: tar.Pack, entry: TarEntry): Promise<void> {
  const size =
    entry.type === "file" ? (entry.size ?? (entry.body instanceof Uint8Array ? entry.body.length : 0)) : 0;
  const header: Partial<tar.Header> & { name: string } = {
    name: entry.name,
    type: entry.type,
    // tar-stream replaces a zero mode with a default; the file-type bits keep it non-zero and are masked off.
    mode: TYPE_BITS[entry.type] | (entry.mode & 0o7777),
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    mtime: new Date(entry.mtime * 1000),
    size,
    uname: "",
    gname: "",
  };
  // ustar ids stop at 0o777777; larger ones (user namespaces) go into PAX records, which readers prefer.
  const pax: Record<string, string> = {};
  if ((header.uid ?? 0) > 0o777777) pax.uid = String(header.uid);
  if ((header.gid ?? 0) > 0o777777) pax.gid = String(header.gid);
  if (Object.keys(pax).length > 0) header.pax = pax;
  if (entry.linkname !== undefined) header.linkname = entry.linkname;
  if (entry.devmajor !== undefined) header.devmajor = entry.devmajor;
  if (entry.devminor !== undefined) header.devminor = entry.devminor;
  if (entry.body === undefined || entry.type !== "file") {
    await new Promise<void>((resolve, reject) =>
      pack.entry(header, (err) => (err ? reject(err) : resolve())),
    );
    return;
  }
  if (entry.body instanceof Uint8Array) {
    const bytes = Buffer.from(entry.body);
    await new Promise<void>((resolve, reject) =>
      pack.entry(header, bytes, (err) => (err ? reject(err) : resolve())),
    );
    return;
  }
  const source = await entry.body();
  const written = new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    pipeline(source, sink).catch(reject);
  });
  await written;
}
