import { createHash } from "node:crypto";
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { type CallOptions, type Digest, throwIfAborted } from "@kiln/core";
import tarStream from "tar-stream";

export type TarEntryType =
  | "file"
  | "link"
  | "symlink"
  | "character-device"
  | "block-device"
  | "directory"
  | "fifo";

/** One layer entry. `name` is relative, without `./`; directories end with `/`. */
export interface TarEntry {
  readonly name: string;
  readonly type: TarEntryType;
  /** Permission bits plus setuid/setgid/sticky (`& 0o7777`). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: Date;
  readonly size?: number;
  /** Symlink target, or the in-layer path a hardlink points to. */
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** Extra PAX records (e.g. `SCHILY.xattr.<name>`); values must be UTF-8 text. */
  readonly pax?: Readonly<Record<string, string>>;
}

export interface TarWriteResult {
  /** sha256 of the exact uncompressed tar bytes (the layer's diffID). */
  readonly diffId: Digest;
  readonly size: number;
}

export interface TarWriter {
  /** Adds an entry; `body` supplies exactly `entry.size` bytes for files. Entries are written in call order. */
  add(entry: TarEntry, body?: Readable | Buffer): Promise<void>;
  /** Writes the end-of-archive blocks, ends `out`, and returns the digest and size of all bytes written. */
  finish(): Promise<TarWriteResult>;
  /** Stops writing; `out` is destroyed with `err`. */
  abort(err: unknown): void;
}

type TarHeader = Partial<tarStream.Header> & { name: string };

/** ustar numeric fields hold 7 octal digits; larger ids need a PAX record. */
const USTAR_MAX_ID = 0o7777777;

/**
 * Streams a normalised tar to `out` through tar-stream, hashing as it goes.
 * Normalised means: uname/gname empty, no atime/ctime, mtime in whole seconds (ustar field), and PAX
 * records only when ustar cannot express an entry (long or non-ASCII names, big ids, xattrs).
 */
export function createTarWriter(out: Writable, o: CallOptions = {}): TarWriter {
  const pack = tarStream.pack();
  const hash = createHash("sha256");
  let size = 0;

  const pumped = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      if (!out.write(chunk)) await once(out, "drain");
    }
    out.end();
    await finished(out);
  })();
  // Failures surface through add()/finish(); this keeps an early one from being reported as unhandled.
  pumped.catch(() => {});
  out.once("error", (err) => pack.destroy(err));

  function toHeader(e: TarEntry): TarHeader {
    const pax: Record<string, string> = { ...e.pax };
    if (e.uid > USTAR_MAX_ID) pax.uid = String(e.uid);
    if (e.gid > USTAR_MAX_ID) pax.gid = String(e.gid);
    const header: TarHeader = {
      name: e.name,
      type: e.type,
      mode: e.mode & 0o7777,
      uid: e.uid > USTAR_MAX_ID ? 0 : e.uid,
      gid: e.gid > USTAR_MAX_ID ? 0 : e.gid,
      mtime: new Date(Math.floor(e.mtime.getTime() / 1000) * 1000),
      size: e.type === "file" ? (e.size ?? 0) : 0,
      uname: "",
      gname: "",
    };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    if (e.devmajor !== undefined) header.devmajor = e.devmajor;
    if (e.devminor !== undefined) header.devminor = e.devminor;
    if (Object.keys(pax).length > 0) header.pax = pax;
    return header;
  }

  async function add(entry: TarEntry, body?: Readable | Buffer): Promise<void> {
    throwIfAborted(o.signal);
    const header = toHeader(entry);
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body === undefined && header.type === "file" && header.size !== 0) {
        reject(new Error(`no content given for ${entry.name}`));
        return;
      }
      // A file entry's sink waits for its content, even an empty one.
      if (Buffer.isBuffer(body) || (body === undefined && header.type === "file")) {
        pack.entry(header, body ?? Buffer.alloc(0), done);
        return;
      }
      const sink = pack.entry(header, done);
      if (body === undefined) return;
      copyInto(body, sink).catch((err: unknown) => {
        sink.destroy(err as Error);
        reject(err);
      });
    });
  }

  return {
    add,
    async finish() {
      throwIfAborted(o.signal);
      pack.finalize();
      await pumped;
      return { diffId: `sha256:${hash.digest("hex")}`, size };
    },
    abort(err) {
      pack.destroy(err as Error);
      out.destroy(err as Error);
    },
  };
}

/** Copies `body` into a tar-stream entry sink with backpressure. */
async function copyInto(body: Readable, sink: ReturnType<tarStream.Pack["entry"]>): Promise<void> {
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (!sink.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => settle();
        const onError = (err: Error) => settle(err);
        const onClose = () => settle(new Error("tar entry closed before its content was written"));
        const settle = (err?: Error) => {
          sink.off("drain", onDrain).off("error", onError).off("close", onClose);
          if (err) reject(err);
          else resolve();
        };
        sink.on("drain", onDrain).on("error", onError).on("close", onClose);
      });
    }
  }
  sink.end(undefined);
}
