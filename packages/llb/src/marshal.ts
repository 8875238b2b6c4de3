import { randomBytes } from "node:crypto";
import {
  type Definition,
  type Digest,
  hostPlatform,
  type OpMetadata,
  type Platform,
  sha256,
} from "@kiln/core";
import { Caps } from "./caps.js";
import type * as pb from "./pb.js";
import { encodeOp } from "./pb-encode.js";
import type { State } from "./state.js";
import { type MarshalContext, mergeMetadata, type Vertex } from "./vertex.js";

export interface MarshalOptions {
  /** Platform of ops whose state has none (default: the host's). */
  readonly platform?: Platform;
  /**
   * Capabilities of the solver that will run the definition. When given, exec ops either record
   * `exec.meta.setsdefaultpath` (solver supplies PATH) or get a default PATH themselves.
   */
  readonly caps?: Iterable<string>;
  /**
   * `local.unique` of local sources without a session. Defaults to an id made once per process, so
   * marshaling is deterministic within a process; pass a fixed value for reproducible bytes.
   */
  readonly localUniqueId?: string;
}

let processUniqueId: string | undefined;

interface Marshaled {
  readonly digest: Digest;
  readonly bytes: Uint8Array;
}

/**
 * Serializes the graph behind `state` into a Definition: each distinct op once, inputs before the ops
 * that read them, then a terminal op pointing at the state's output. Same state and options give the
 * same bytes. A scratch state gives an empty definition.
 */
export function marshal(state: State, o: MarshalOptions = {}): Definition {
  const output = state.output;
  if (!output) return { def: [], metadata: {} };
  processUniqueId ??= randomBytes(16).toString("hex");
  const def: Uint8Array[] = [];
  const metadata: Record<string, OpMetadata> = {};
  const done = new Map<Vertex, Marshaled>();
  const written = new Set<Digest>();

  const visit = (v: Vertex): Marshaled => {
    const known = done.get(v);
    if (known) return known;
    for (const input of v.inputs) visit(input.vertex);
    const m = v.marshal(ctx);
    const bytes = encodeOp(m.op);
    const digest = sha256(bytes);
    const entry = { digest, bytes };
    done.set(v, entry);
    metadata[digest] = mergeMetadata(metadata[digest] ?? {}, m.metadata);
    if (!written.has(digest)) {
      written.add(digest);
      def.push(bytes);
    }
    return entry;
  };

  const ctx: MarshalContext = {
    platform: o.platform ?? hostPlatform(),
    caps: o.caps ? new Set(o.caps) : undefined,
    localUniqueId: o.localUniqueId ?? processUniqueId,
    input: (out): pb.Input => {
      const edge: pb.Input = { digest: visit(out.vertex).digest };
      if (out.index !== 0) edge.index = out.index;
      return edge;
    },
  };

  const terminal = encodeOp({ inputs: [ctx.input(output)] });
  def.push(terminal);
  const terminalCaps: Record<string, boolean> = { [Caps.constraints]: true, [Caps.platform]: true };
  for (const md of Object.values(metadata)) {
    if (md.ignoreCache) terminalCaps[Caps.metaIgnoreCache] = true;
    if (md.description) terminalCaps[Caps.metaDescription] = true;
    if (md.exportCache !== undefined) terminalCaps[Caps.metaExportCache] = true;
  }
  metadata[sha256(terminal)] = { caps: terminalCaps };
  // BuildKit always attaches a (here empty) source map to a marshaled definition.
  return { def, metadata, source: { infos: [], locations: {} } };
}
