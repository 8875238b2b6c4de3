import { KilnError, type OpResolver, type Ref } from "@kiln/core";
import type { pb } from "@kiln/llb";
import { flattenOp } from "./decode.js";
import { execOp } from "./exec.js";
import { fileOp } from "./file.js";
import { diffOp, mergeOp } from "./merge-diff.js";
import { sourceOp } from "./source.js";
import type { OpEnvironment } from "./types.js";

/** Maps each LLB vertex to the op that executes it in this builder. */
export function createOpResolver(env: OpEnvironment): OpResolver<Ref> {
  return (vertex) => {
    const op = flattenOp(vertex.sys as pb.Op);
    if (op.source) return sourceOp(op, env);
    if (op.file) return fileOp(op, env, vertex.name);
    if (op.merge) return mergeOp(op, env, vertex.name);
    if (op.diff) return diffOp(op, env, vertex.name);
    if (op.exec) return execOp(op, env, vertex.name, vertex.digest);
    throw new KilnError("INVALID_ARGUMENT", `vertex ${vertex.digest} has an op kind kiln does not know`);
  };
}
