import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { Definition, OpMetadata, SourceInfo, SourceLocations, SourceRange } from "@kiln/core";
import {
  boolMapValue,
  isLen,
  isVarint,
  messageMapValue,
  putBool,
  putBytes,
  putInt32,
  putMap,
  putMessage,
  putRepeatedMessage,
  putString,
  readMapEntry,
  readMessage,
  readSub,
  stringMapValue,
} from "./wire.js";

/**
 * `pb.Definition` (def = 1 repeated bytes, metadata = 2 map<string, OpMetadata>, Source = 3) on the
 * wire, mapped to and from core's `Definition`. SourceInfo.definition (3) and OpMetadata
 * linux_resources (7) have no place in core's types: they are skipped when decoding.
 */
export function encodeDefinition(def: Definition): Uint8Array {
  const w = new BinaryWriter();
  for (const op of def.def) w.tag(1, WireType.LengthDelimited).bytes(op);
  putMap(w, 2, def.metadata, messageMapValue(writeOpMetadata));
  putMessage(w, 3, def.source, (s, w) => {
    putMap(
      w,
      1,
      s.locations,
      messageMapValue<readonly SourceLocations[]>((locs, w) => putRepeatedMessage(w, 1, locs, writeLocation)),
    );
    putRepeatedMessage(w, 2, s.infos, writeSourceInfo);
  });
  return w.finish();
}

export function writeOpMetadata(m: OpMetadata, w: BinaryWriter): void {
  putBool(w, 1, m.ignoreCache);
  putMap(w, 2, m.description, stringMapValue);
  if (m.exportCache !== undefined) putMessage(w, 4, m.exportCache, (v, w) => putBool(w, 1, v));
  putMap(w, 5, m.caps, boolMapValue);
  putMessage(w, 6, m.progressGroup, (g, w) => {
    putString(w, 1, g.id);
    putString(w, 2, g.name);
    putBool(w, 3, g.weak);
  });
}

function writeLocation(m: SourceLocations, w: BinaryWriter): void {
  putInt32(w, 1, m.sourceIndex);
  putRepeatedMessage(w, 2, m.ranges, (r: SourceRange, w) => {
    for (const [no, p] of [
      [1, r.start],
      [2, r.end],
    ] as const) {
      putMessage(w, no, p, (p, w) => {
        putInt32(w, 1, p.line);
        putInt32(w, 2, p.character);
      });
    }
  });
}

function writeSourceInfo(m: SourceInfo, w: BinaryWriter): void {
  putString(w, 1, m.filename);
  putBytes(w, 2, m.data);
  putString(w, 4, m.language);
}

export function decodeDefinitionMessage(bytes: Uint8Array): Definition {
  const r = new BinaryReader(bytes);
  const def: Uint8Array[] = [];
  const metadata: Record<string, OpMetadata> = {};
  let source: Definition["source"];
  readMessage(r, bytes.length, {}, (_, no, wt) => {
    if (no === 1 && isLen(wt)) def.push(r.bytes());
    else if (no === 2 && isLen(wt)) {
      readMapEntry(
        r,
        metadata,
        () => ({}),
        (r, wt) => (isLen(wt) ? readSub(r, readOpMetadata) : undefined),
      );
    } else if (no === 3 && isLen(wt)) source = readSub(r, readSource);
    else return false;
    return true;
  });
  return source ? { def, metadata, source } : { def, metadata };
}

export function readOpMetadata(r: BinaryReader, len: number): OpMetadata {
  return readMessage<OpMetadata>(r, len, {}, (m, no, wt) => {
    if (no === 1 && isVarint(wt)) m.ignoreCache = r.bool();
    else if (no === 2 && isLen(wt)) {
      m.description ??= {};
      readMapEntry(
        r,
        m.description,
        () => "",
        (r, wt) => (isLen(wt) ? r.string() : undefined),
      );
    } else if (no === 4 && isLen(wt)) {
      m.exportCache = readMessage(r, r.uint32(), { value: false }, (e, no, wt) => {
        if (no !== 1 || !isVarint(wt)) return false;
        e.value = r.bool();
        return true;
      }).value;
    } else if (no === 5 && isLen(wt)) {
      m.caps ??= {};
      readMapEntry(
        r,
        m.caps,
        () => false,
        (r, wt) => (isVarint(wt) ? r.bool() : undefined),
      );
    } else if (no === 6 && isLen(wt)) {
      m.progressGroup = readMessage<{ id: string; name: string; weak: boolean }>(
        r,
        r.uint32(),
        { id: "", name: "", weak: false },
        (g, no, wt) => {
          if (no === 1 && isLen(wt)) g.id = r.string();
          else if (no === 2 && isLen(wt)) g.name = r.string();
          else if (no === 3 && isVarint(wt)) g.weak = r.bool();
          else return false;
          return true;
        },
      );
    } else return false;
    return true;
  });
}

type MutableSource = { infos: SourceInfo[]; locations: Record<string, SourceLocations[]> };

function readSource(r: BinaryReader, len: number): MutableSource {
  return readMessage<MutableSource>(r, len, { infos: [], locations: {} }, (s, no, wt) => {
    if (no === 1 && isLen(wt)) {
      readMapEntry(
        r,
        s.locations,
        () => [],
        (r, wt) => (isLen(wt) ? readSub(r, readLocations) : undefined),
      );
    } else if (no === 2 && isLen(wt)) s.infos.push(readSub(r, readSourceInfo));
    else return false;
    return true;
  });
}

function readLocations(r: BinaryReader, len: number): SourceLocations[] {
  const out: SourceLocations[] = [];
  readMessage(r, len, out, (out, no, wt) => {
    if (no !== 1 || !isLen(wt)) return false;
    out.push(readSub(r, readLocation));
    return true;
  });
  return out;
}

function readLocation(r: BinaryReader, len: number): SourceLocations {
  const ranges: SourceRange[] = [];
  const loc = readMessage(r, len, { sourceIndex: 0, ranges }, (l, no, wt) => {
    if (no === 1 && isVarint(wt)) l.sourceIndex = r.int32();
    else if (no === 2 && isLen(wt)) ranges.push(readSub(r, readRange));
    else return false;
    return true;
  });
  return loc;
}

function readRange(r: BinaryReader, len: number): SourceRange {
  const range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  return readMessage(r, len, range, (m, no, wt) => {
    if ((no !== 1 && no !== 2) || !isLen(wt)) return false;
    const pos = readMessage(r, r.uint32(), { line: 0, character: 0 }, (p, no, wt) => {
      if (no === 1 && isVarint(wt)) p.line = r.int32();
      else if (no === 2 && isVarint(wt)) p.character = r.int32();
      else return false;
      return true;
    });
    if (no === 1) m.start = pos;
    else m.end = pos;
    return true;
  });
}

function readSourceInfo(r: BinaryReader, len: number): SourceInfo {
  return readMessage<SourceInfo>(r, len, { filename: "" }, (m, no, wt) => {
    if (no === 1 && isLen(wt)) m.filename = r.string();
    else if (no === 2 && isLen(wt)) m.data = r.bytes();
    else if (no === 4 && isLen(wt)) m.language = r.string();
    else return false;
    return true;
  });
}
