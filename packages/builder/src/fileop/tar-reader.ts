import type { Readable } from "node:stream";
import { KilnError } from "@kiln/core";

/** One tar entry header after PAX and GNU long-name records were folded in. */
export interface TarHeader {
  readonly name: string;
  /** `0` regular, `1` hardlink, `2` symlink, `3` char, `4` block, `5` dir, `6` fifo, other as read. */
  readonly type: string;
  /** Permission and setuid/setgid/sticky bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds, possibly fractional (PAX). */
  readonly mtime: number;
  readonly atime: number | undefined;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
}

export interface TarEntry {
  readonly header: TarHeader;
  /** The entry's data; must be consumed (or left alone) before asking for the next entry. */
  readonly body: AsyncIterable<Buffer>;
}

const BLOCK = 512;
/** Types whose size field never describes data that follows (Go's tar reader rule). */
const HEADER_ONLY = new Set(["1", "2", "3", "4", "5", "6"]);

/** Pulls exact byte counts out of a chunked stream. */
function byteReader(stream: Readable) {
  const it = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  let ended = false;
  const fill = async (): Promise<boolean> => {
    if (ended) return false;
    const next = await it.next();
    if (next.done) {
      ended = true;
      return false;
    }
    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value]);
    return true;
  };
  return {
    /** Exactly `n` bytes; fewer only at the end of the stream. */
    async read(n: number): Promise<Buffer> {
      while (pending.length < n && (await fill())) {}
      const out = pending.subarray(0, n);
      pending = pending.subarray(out.length);
      return out;
    },
    /** Up to `max` bytes that are already buffered or arrive next. */
    async some(max: number): Promise<Buffer> {
      if (pending.length === 0) await fill();
      const out = pending.subarray(0, max);
      pending = pending.subarray(out.length);
      return out;
    },
    async close(): Promise<void> {
      await it.return?.();
    },
  };
}

function truncated(): KilnError {
  return new KilnError("DATA_LOSS", "unexpected end of tar archive");
}

/**
 * Iterates the entries of an uncompressed tar stream (ustar, GNU and PAX). PAX global headers are
 * skipped, as Docker does; sparse and other exotic types are returned with their raw type for the
 * caller to refuse.
 */
export async function* readTar(stream: Readable): AsyncGenerator<TarEntry> {
  const r = byteReader(stream);
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      const block = await r.read(BLOCK);
      if (block.length === 0) return;
      if (block.length < BLOCK) throw truncated();
      if (block.every((b) => b === 0)) return;
      const raw = parseHeader(block);
      const dataSize = raw.size;
      if (raw.type === "x" || raw.type === "g" || raw.type === "L" || raw.type === "K") {
        const data = await r.read(dataSize);
        if (data.length < dataSize) throw truncated();
        await r.read(padding(dataSize));
        if (raw.type === "x") pax = { ...pax, ...parsePax(data) };
        else if (raw.type === "L") longName = cString(data);
        else if (raw.type === "K") longLink = cString(data);
        continue;
      }
      const header = applyOverrides(raw, pax, longName, longLink);
      pax = {};
      longName = undefined;
      longLink = undefined;
      const size = HEADER_ONLY.has(header.type) ? 0 : header.size;
      let left = size;
      const body = (async function* () {
        while (left > 0) {
          const chunk = await r.some(Math.min(left, 1 << 20));
          if (chunk.length === 0) throw truncated();
          left -= chunk.length;
          yield chunk;
        }
      })();
      yield { header, body };
      while (left > 0) {
        const skipped = await r.some(Math.min(left, 1 << 20));
        if (skipped.length === 0) throw truncated();
        left -= skipped.length;
      }
      await r.read(padding(size));
    }
  } finally {
    await r.close();
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** True when `block` is a tar header with a valid checksum (the first test Go's tar reader applies). */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < BLOCK || block.every((b) => b === 0)) return false;
  try {
    parseHeader(Buffer.from(block.buffer, block.byteOffset, BLOCK));
    return true;
  } catch {
    return false;
  }
}

interface RawHeader extends TarHeader {
  readonly ustar: boolean;
}

function parseHeader(b: Buffer): RawHeader {
  const stored = numeric(b.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 32 : (b[i] as number);
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  if (stored !== unsigned && stored !== signed) {
    throw new KilnError("DATA_LOSS", "invalid tar header checksum");
  }
  const magic = b.subarray(257, 263).toString("latin1");
  const ustar = magic === "ustar\0";
  const prefix = ustar ? cString(b.subarray(345, 500)) : "";
  const name = cString(b.subarray(0, 100));
  let type = String.fromCharCode(b[156] as number);
  if (type === "\0" || type === "7") type = name.endsWith("/") ? "5" : "0";
  return {
    name: prefix ? `${prefix}/${name}` : name,
    type,
    mode: numeric(b.subarray(100, 108)) & 0o7777,
    uid: numeric(b.subarray(108, 116)),
    gid: numeric(b.subarray(116, 124)),
    size: numeric(b.subarray(124, 136)),
    mtime: numeric(b.subarray(136, 148)),
    atime: undefined,
    linkname: cString(b.subarray(157, 257)),
    devmajor: numeric(b.subarray(329, 337)),
    devminor: numeric(b.subarray(337, 345)),
    ustar,
  };
}

function applyOverrides(
  h: RawHeader,
  pax: Record<string, string>,
  longName: string | undefined,
  longLink: string | undefined,
): TarHeader {
  const num = (key: string, fallback: number): number => {
    const v = pax[key];
    return v !== undefined && v !== "" && Number.isFinite(Number(v)) ? Number(v) : fallback;
  };
  return {
    ...h,
    name: pax.path ?? longName ?? h.name,
    linkname: pax.linkpath ?? longLink ?? h.linkname,
    uid: num("uid", h.uid),
    gid: num("gid", h.gid),
    size: num("size", h.size),
    mtime: num("mtime", h.mtime),
    atime: pax.atime !== undefined ? num("atime", h.mtime) : undefined,
  };
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end === -1 ? b.length : end).toString("utf8");
}

/** Octal (NUL/space padded) or GNU base-256 numbers. */
function numeric(b: Buffer): number {
  if (b.length > 0 && ((b[0] as number) & 0x80) !== 0) {
    let v = BigInt((b[0] as number) & 0x7f);
    for (let i = 1; i < b.length; i++) v = (v << 8n) | BigInt(b[i] as number);
    return Number(v);
  }
  const text = b.toString("latin1").replace(/\0.*$/s, "").trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text))
    throw new KilnError("DATA_LOSS", `invalid tar header number ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const len = Number(data.subarray(pos, space).toString("latin1"));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length) {
      throw new KilnError("DATA_LOSS", "invalid PAX record in tar archive");
    }
    const record = data.subarray(space + 1, pos + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}
