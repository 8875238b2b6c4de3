import type { OpMetadata, Platform } from "@kiln/core";
import type * as pb from "./pb.js";

/** Per-op constraints and metadata, accepted by every call that creates an op. */
export interface OpOptions {
  /** Shown as the vertex name (metadata description `llb.customname`). */
  readonly customName?: string;
  readonly description?: Readonly<Record<string, string>>;
  readonly ignoreCache?: boolean;
  /** Sets the op's export-cache metadata (true or false); left unset when undefined. */
  readonly exportCache?: boolean;
  readonly progressGroup?: { readonly id: string; readonly name: string; readonly weak?: boolean };
  /** Platform of this op (else the state's platform, else the marshal default). */
  readonly platform?: Platform;
  /** containerd-style worker filters (`Op.constraints.filter`). */
  readonly workerConstraints?: readonly string[];
}

/** What a vertex sees while it is marshaled. */
export interface MarshalContext {
  /** Default platform for ops whose state has none. */
  readonly platform: Platform;
  /** Capabilities the solver announced, when known (affects the default PATH of exec ops). */
  readonly caps: ReadonlySet<string> | undefined;
  /** `local.unique` value for local sources without a session. */
  readonly localUniqueId: string;
  /** Marshals the output's vertex (once per marshal call) and returns the edge to it. */
  input(output: Output): pb.Input;
}

export interface MarshaledVertex {
  readonly op: pb.Op;
  readonly metadata: OpMetadata;
}

/** A node of the build graph. Vertices are immutable; marshaling is pure given the context. */
export interface Vertex {
  /** Vertices this one reads, in the order they are marshaled (dependencies first). */
  readonly inputs: readonly Output[];
  marshal(ctx: MarshalContext): MarshaledVertex;
}

/** One output of a vertex. */
export interface Output {
  readonly vertex: Vertex;
  readonly index: number;
  /** Platform that states built on this output start with (an image pulled for a platform). */
  readonly platform?: Platform;
}

export function toPbPlatform(p: Platform): pb.Platform {
  const out: pb.Platform = { architecture: p.architecture, os: p.os };
  if (p.variant) out.variant = p.variant;
  if (p["os.version"]) out.osVersion = p["os.version"];
  if (p["os.features"]?.length) out.osFeatures = [...p["os.features"]];
  return out;
}

/**
 * The parts every op shares: platform and (always present, possibly empty) worker constraints, like
 * BuildKit's MarshalConstraints. Ops that are not platform specific delete `platform` afterwards.
 */
export function baseOp(ctx: MarshalContext, opts: OpOptions | undefined, statePlatform?: Platform): pb.Op {
  const platform = opts?.platform ?? statePlatform ?? ctx.platform;
  const filter = opts?.workerConstraints;
  return {
    platform: toPbPlatform(platform),
    constraints: filter?.length ? { filter: [...filter] } : {},
  };
}

/** Op metadata from per-op options plus the capabilities the op needs. */
export function opMetadata(opts: OpOptions | undefined, caps: Iterable<string>): OpMetadata {
  const md: OpMetadata = {};
  if (opts?.ignoreCache) md.ignoreCache = true;
  const description = { ...opts?.description };
  if (opts?.customName !== undefined) description["llb.customname"] = opts.customName;
  if (Object.keys(description).length > 0) md.description = description;
  if (opts?.exportCache !== undefined) md.exportCache = opts.exportCache;
  if (opts?.progressGroup) {
    const { id, name, weak = false } = opts.progressGroup;
    md.progressGroup = { id, name, weak };
  }
  const capMap: Record<string, boolean> = {};
  for (const cap of caps) capMap[cap] = true;
  if (Object.keys(capMap).length > 0) md.caps = capMap;
  return md;
}

/** Combines metadata of one digest: later descriptions/caps add up, flags and groups override. */
export function mergeMetadata(a: OpMetadata, b: OpMetadata): OpMetadata {
  const out: OpMetadata = { ...a };
  if (b.ignoreCache) out.ignoreCache = true;
  if (b.description && Object.keys(b.description).length > 0) {
    out.description = { ...a.description, ...b.description };
  }
  if (b.exportCache !== undefined) out.exportCache = b.exportCache;
  if (b.caps && Object.keys(b.caps).length > 0) out.caps = { ...a.caps, ...b.caps };
  if (b.progressGroup) out.progressGroup = b.progressGroup;
  return out;
}

/** The same output, whose vertex carries extra metadata (op bytes, hence digests, are unchanged). */
export function withExtraMetadata(output: Output, opts: OpOptions): Output {
  const inner = output.vertex;
  const extra = opMetadata(opts, []);
  const vertex: Vertex = {
    inputs: inner.inputs,
    marshal(ctx) {
      const m = inner.marshal(ctx);
      return { op: m.op, metadata: mergeMetadata(m.metadata, extra) };
    },
  };
  return { ...output, vertex };
}
