import { type Definition, type Digest, KilnError, type SolverEdge, type SolverVertex } from "@kiln/core";
import { type LoadedDefinition, loadDefinition, type pb } from "@kiln/llb";

export interface VertexGraphOptions {
  /** Mark every vertex ignore-cache (its result is never loaded from the cache, only saved). */
  readonly ignoreCache?: boolean;
}

/**
 * Turns an LLB Definition into the solver's vertex graph: one vertex object per op digest (so equal
 * ops reached through different paths are one vertex), `sys` = the decoded `pb.Op`, inputs as edges.
 * Throws INVALID_ARGUMENT for malformed definitions (via `loadDefinition`).
 */
export function vertexGraph(def: Definition, opts: VertexGraphOptions = {}): SolverEdge {
  return vertexGraphFromLoaded(loadDefinition(def), opts);
}

export function vertexGraphFromLoaded(loaded: LoadedDefinition, opts: VertexGraphOptions = {}): SolverEdge {
  const vertices = new Map<Digest, SolverVertex>();
  // Iterative post-order walk: deep graphs (long Dockerfiles) must not hit the call-stack limit.
  const stack: Digest[] = [loaded.root.digest];
  while (stack.length > 0) {
    const digest = stack[stack.length - 1] as Digest;
    if (vertices.has(digest)) {
      stack.pop();
      continue;
    }
    const entry = loaded.ops.get(digest);
    if (!entry) throw new KilnError("INTERNAL", `loaded definition has no op ${digest}`);
    const inputs = (entry.op.inputs ?? []).map((input) => ({
      digest: input.digest as Digest,
      index: input.index ?? 0,
    }));
    const missing = inputs.filter((input) => !vertices.has(input.digest));
    if (missing.length > 0) {
      stack.push(...missing.map((input) => input.digest));
      continue;
    }
    stack.pop();
    const metadata = opts.ignoreCache ? { ...entry.metadata, ignoreCache: true } : entry.metadata;
    vertices.set(digest, {
      digest,
      name: metadata.description?.["llb.customname"] ?? opName(entry.op),
      inputs: inputs.map((input) => ({
        vertex: vertices.get(input.digest) as SolverVertex,
        index: input.index,
      })),
      sys: entry.op,
      metadata,
    });
  }
  return { vertex: vertices.get(loaded.root.digest) as SolverVertex, index: loaded.root.index };
}

/** A readable name for an op without `llb.customname`, in the spirit of BuildKit's derived names. */
export function opName(op: pb.Op): string {
  const kind = op.op;
  if (!kind) return "unknown";
  switch (kind.case) {
    case "source":
      return kind.value.identifier ?? "source";
    case "exec":
      return (kind.value.meta?.args ?? []).join(" ") || "exec";
    case "file":
      return (kind.value.actions ?? []).map(fileActionName).join(", ") || "file";
    default:
      return kind.case;
  }
}

function fileActionName(action: pb.FileAction): string {
  const a = action.action;
  switch (a?.case) {
    case "copy":
      return `copy ${a.value.src ?? ""} ${a.value.dest ?? ""}`;
    case "mkfile":
      return `mkfile ${a.value.path ?? ""}`;
    case "mkdir":
      return `mkdir ${a.value.path ?? ""}`;
    case "rm":
      return `rm ${a.value.path ?? ""}`;
    case "symlink":
      return `symlink ${a.value.oldpath ?? ""} -> ${a.value.newpath ?? ""}`;
    default:
      return "unknown";
  }
}
