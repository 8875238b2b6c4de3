import { type BinaryReader, type BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { KilnError } from "@kiln/core";

/**
 * Small helpers over @bufbuild/protobuf's wire primitives that reproduce Go's deterministic proto3
 * output: scalar fields equal to their zero value are left out, set message fields are written even
 * when empty, repeated scalars are packed, map entries are sorted by key and always carry both key and
 * value (Go writes map entries with the value coders, which do not skip zero values).
 */

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;

export function putString(w: BinaryWriter, no: number, v: string | undefined): void {
  if (v) w.tag(no, LEN).string(v);
}

export function putBytes(w: BinaryWriter, no: number, v: Uint8Array | undefined): void {
  if (v && v.length > 0) w.tag(no, LEN).bytes(v);
}

export function putBool(w: BinaryWriter, no: number, v: boolean | undefined): void {
  if (v) w.tag(no, VARINT).bool(true);
}

/** int64 as a plain varint: negative values become 10-byte two's complement varints, like Go. */
export function putInt64(w: BinaryWriter, no: number, v: number | bigint | undefined): void {
  if (v === undefined || v === 0 || v === 0n) return;
  if (typeof v === "number" && !Number.isInteger(v)) {
    throw new KilnError("INVALID_ARGUMENT", `int64 field ${no} is not an integer: ${v}`);
  }
  w.tag(no, VARINT).int64(v);
}

/** int32 and enums: negative values are sign-extended to 10 bytes, like Go. */
export function putInt32(w: BinaryWriter, no: number, v: number | undefined): void {
  if (v) w.tag(no, VARINT).int32(v);
}

export function putUint32(w: BinaryWriter, no: number, v: number | undefined): void {
  if (v) w.tag(no, VARINT).uint32(v);
}

export function putMessage<T>(
  w: BinaryWriter,
  no: number,
  v: T | undefined,
  encode: (v: T, w: BinaryWriter) => void,
): void {
  if (v === undefined) return;
  w.tag(no, LEN).fork();
  encode(v, w);
  w.join();
}

export function putRepeatedString(w: BinaryWriter, no: number, vs: readonly string[] | undefined): void {
  // Repeated elements are written one by one, empty strings included.
  for (const v of vs ?? []) w.tag(no, LEN).string(v);
}

export function putRepeatedMessage<T>(
  w: BinaryWriter,
  no: number,
  vs: readonly T[] | undefined,
  encode: (v: T, w: BinaryWriter) => void,
): void {
  for (const v of vs ?? []) putMessage(w, no, v, encode);
}

export function putPackedInt32(w: BinaryWriter, no: number, vs: readonly number[] | undefined): void {
  if (!vs || vs.length === 0) return;
  w.tag(no, LEN).fork();
  for (const v of vs) w.int32(v);
  w.join();
}

export function putPackedInt64(w: BinaryWriter, no: number, vs: readonly number[] | undefined): void {
  if (!vs || vs.length === 0) return;
  w.tag(no, LEN).fork();
  for (const v of vs) w.int64(v);
  w.join();
}

/** map<string, V>: one length-delimited entry per key (key = field 1, value = field 2), sorted by key. */
export function putMap<V>(
  w: BinaryWriter,
  no: number,
  m: Readonly<Record<string, V>> | undefined,
  putValue: (w: BinaryWriter, v: V) => void,
): void {
  if (!m) return;
  for (const key of sortedKeys(m)) {
    w.tag(no, LEN).fork();
    w.tag(1, LEN).string(key);
    putValue(w, m[key] as V);
    w.join();
  }
}

export const stringMapValue = (w: BinaryWriter, v: string): void => void w.tag(2, LEN).string(v);
export const boolMapValue = (w: BinaryWriter, v: boolean): void => void w.tag(2, VARINT).bool(v);
export function messageMapValue<V>(encode: (v: V, w: BinaryWriter) => void) {
  return (w: BinaryWriter, v: V): void => {
    w.tag(2, LEN).fork();
    encode(v, w);
    w.join();
  };
}

/** Go sorts string map keys bytewise on their UTF-8 form, which is code point order. */
export function sortedKeys(m: object): string[] {
  return Object.keys(m).sort(compareUtf8);
}

export function compareUtf8(a: string, b: string): number {
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) as number;
    const cy = y.value.codePointAt(0) as number;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

// ---------------------------------------------------------------------------------------------------
// Decoding

export const isLen = (wt: WireType): boolean => wt === LEN;
export const isVarint = (wt: WireType): boolean => wt === VARINT;

/**
 * Reads one message body of `len` bytes. `field` consumes a known field and returns true; anything it
 * declines (unknown numbers, unexpected wire types) is skipped, as Go keeps such fields as unknown.
 */
export function readMessage<T>(
  r: BinaryReader,
  len: number,
  msg: T,
  field: (msg: T, no: number, wt: WireType) => boolean,
): T {
  const end = r.pos + len;
  if (end > r.len) throw new RangeError("premature end of protobuf message");
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (!field(msg, no, wt)) r.skip(wt, no);
  }
  if (r.pos !== end) throw new RangeError("protobuf field overruns its message");
  return msg;
}

/** Reads a length-delimited sub-message at the reader's position. */
export function readSub<T>(r: BinaryReader, decode: (r: BinaryReader, len: number) => T): T {
  return decode(r, r.uint32());
}

export function readInt64(r: BinaryReader): number {
  return Number(r.int64());
}

export function readBigInt64(r: BinaryReader): bigint {
  return BigInt(r.int64());
}

/** Appends to a repeated field that may not exist yet. */
export function append<T>(list: T[] | undefined, value: T): T[] {
  const out = list ?? [];
  out.push(value);
  return out;
}

/** Repeated int32/int64 fields (wire type varint or length-delimited): accepts packed and unpacked. */
export function readRepeatedInt(
  r: BinaryReader,
  wt: WireType,
  list: number[] | undefined,
  wide: boolean,
): number[] {
  const out = list ?? [];
  const one = () => (wide ? readInt64(r) : r.int32());
  if (wt === VARINT) {
    out.push(one());
    return out;
  }
  const end = r.uint32() + r.pos;
  while (r.pos < end) out.push(one());
  if (r.pos !== end) throw new RangeError("packed field overruns its length");
  return out;
}

/** One map entry: key = field 1, value = field 2; missing parts take their zero value. */
export function readMapEntry<V>(
  r: BinaryReader,
  map: Record<string, V> | undefined,
  zero: () => V,
  readValue: (r: BinaryReader, wt: WireType) => V | undefined,
): Record<string, V> {
  const entry = { key: "", value: zero() };
  readMessage(r, r.uint32(), entry, (e, no, wt) => {
    if (no === 1 && wt === LEN) e.key = r.string();
    else if (no === 2) {
      const v = readValue(r, wt);
      if (v === undefined) return false;
      e.value = v;
    } else return false;
    return true;
  });
  const out = map ?? {};
  out[entry.key] = entry.value;
  return out;
}
