import { readFile, rename, writeFile } from "node:fs/promises";
import {
  type CallOptions,
  type Definition,
  type Digest,
  isDigest,
  KilnError,
  type OpMetadata,
  sha256,
  throwIfAborted,
} from "@kiln/core";
import type * as pb from "./pb.js";
import { decodeOp } from "./pb-decode.js";
import { decodeDefinitionMessage, encodeDefinition } from "./pb-definition.js";

export { encodeDefinition };

/** Parses `pb.Definition` bytes (what `buildctl debug dump-llb` reads). */
export function decodeDefinition(bytes: Uint8Array): Definition {
  try {
    return decodeDefinitionMessage(bytes);
  } catch (cause) {
    throw new KilnError("INVALID_ARGUMENT", "malformed LLB definition", {
      cause,
      hint: "the data is not a protobuf-encoded pb.Definition",
    });
  }
}

function fsError(err: unknown, path: string, verb: string): unknown {
  if (err instanceof KilnError) return err;
  if (err instanceof Error && err.name === "AbortError") {
    return new KilnError("CANCELED", `${verb} ${path} canceled`, { cause: err });
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new KilnError("NOT_FOUND", `${verb} ${path}: no such file`, { cause: err });
  return err;
}

/** Writes the definition to `path` (through a temporary file, so readers never see half of it). */
export async function writeDefinitionFile(path: string, def: Definition, o: CallOptions = {}): Promise<void> {
  throwIfAborted(o.signal);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, encodeDefinition(def), { signal: o.signal });
    await rename(tmp, path);
  } catch (err) {
    throw fsError(err, path, "writing LLB definition");
  }
}

export async function readDefinitionFile(path: string, o: CallOptions = {}): Promise<Definition> {
  throwIfAborted(o.signal);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path, { signal: o.signal });
  } catch (err) {
    throw fsError(err, path, "reading LLB definition");
  }
  return decodeDefinition(bytes);
}

export interface LoadedOp {
  readonly op: pb.Op;
  readonly digest: Digest;
  readonly metadata: OpMetadata;
}

export interface LoadedDefinition {
  /** Every op of the definition but the terminal one, by digest. */
  readonly ops: ReadonlyMap<Digest, LoadedOp>;
  /** The result: an output of one of `ops`. */
  readonly root: { readonly digest: Digest; readonly index: number };
}

function invalid(message: string, vertex?: string): KilnError {
  return new KilnError("INVALID_ARGUMENT", `invalid LLB definition: ${message}`, vertex ? { vertex } : {});
}

/**
 * Decodes and checks a definition for the solver: at least one op plus the terminal op, the terminal
 * op last with exactly one input, every input pointing at an op of the definition, no cycles.
 * Digests are computed from the bytes as given.
 */
export function loadDefinition(def: Definition): LoadedDefinition {
  if (def.def.length < 2)
    throw invalid(`expected at least 2 ops (an op and the terminal op), got ${def.def.length}`);
  const ops = new Map<Digest, LoadedOp>();
  const decoded = def.def.map((bytes, i) => {
    const digest = sha256(bytes);
    try {
      return { op: decodeOp(bytes), digest };
    } catch (cause) {
      throw new KilnError("INVALID_ARGUMENT", `invalid LLB definition: op ${i} is not a valid pb.Op`, {
        cause,
        vertex: digest,
      });
    }
  });
  const terminal = decoded.pop() as { op: pb.Op; digest: Digest };
  for (const { op, digest } of decoded) {
    if (!op.op) throw invalid(`op ${digest} has no operation (only the last op may be terminal)`, digest);
    ops.set(digest, { op, digest, metadata: def.metadata[digest] ?? {} });
  }
  const rootEdge = terminal.op.inputs?.[0];
  if (terminal.op.op || terminal.op.inputs?.length !== 1 || !rootEdge) {
    throw invalid("the last op must be a terminal op with exactly one input", terminal.digest);
  }
  const checkEdge = (edge: pb.Input, from: Digest): Digest => {
    const target = edge.digest ?? "";
    if (!isDigest(target) || !ops.has(target))
      throw invalid(`op ${from} reads missing op ${JSON.stringify(target)}`, from);
    if ((edge.index ?? 0) < 0) throw invalid(`op ${from} reads negative output ${edge.index}`, from);
    return target;
  };
  const root = { digest: checkEdge(rootEdge, terminal.digest), index: rootEdge.index ?? 0 };
  for (const { op, digest } of ops.values()) for (const edge of op.inputs ?? []) checkEdge(edge, digest);
  assertAcyclic(ops);
  return { ops, root };
}

/** Digests make cycles practically impossible, but a crafted definition must not hang the solver. */
export function assertAcyclic(ops: ReadonlyMap<Digest, LoadedOp>): void {
  const state = new Map<Digest, "visiting" | "done">();
  for (const start of ops.keys()) {
    if (state.has(start)) continue;
    const stack: { digest: Digest; next: number }[] = [{ digest: start, next: 0 }];
    state.set(start, "visiting");
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { digest: Digest; next: number };
      const inputs = ops.get(top.digest)?.op.inputs ?? [];
      const edge = inputs[top.next++];
      if (!edge) {
        state.set(top.digest, "done");
        stack.pop();
        continue;
      }
      const target = edge.digest as Digest;
      const seen = state.get(target);
      if (seen === "visiting") throw invalid(`cycle through op ${target}`, target);
      if (!seen) {
        state.set(target, "visiting");
        stack.push({ digest: target, next: 0 });
      }
    }
  }
}
