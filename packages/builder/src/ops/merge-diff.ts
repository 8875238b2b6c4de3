import { type ImmutableRef, KilnError, type Layer, type Op, type Ref, sha256 } from "@kiln/core";
import type { DecodedOp, OpEnvironment } from "./types.js";

/**
 * MergeOp stacks the layer chains of its inputs (no file is copied or re-tarred: the result's layers
 * are the inputs' blobs); DiffOp keeps the layers of `upper` that are not in `lower` when `lower` is a
 * prefix of `upper`, which is what BuildKit can export without re-diffing.
 */
export function mergeOp(op: DecodedOp, env: OpEnvironment, description: string): Op<Ref> {
  const inputs = (op.merge?.inputs ?? []).map((i) => i.input ?? -1);
  return {
    cacheMap: async () => ({
      digest: sha256(JSON.stringify({ Type: "buildkit.merge.v0", Merge: op.merge })),
      deps: (op.inputs ?? []).map(() => ({})),
    }),
    async exec(refs, o) {
      const layers: Layer[] = [];
      for (const index of inputs) {
        if (index < 0) continue;
        layers.push(...(await immutable(refs[index], "merge").layers(o)));
      }
      return [await env.refs.fromLayers(layers, description, o)];
    },
  };
}

export function diffOp(op: DecodedOp, env: OpEnvironment, description: string): Op<Ref> {
  const lowerIndex = op.diff?.lower?.input ?? -1;
  const upperIndex = op.diff?.upper?.input ?? -1;
  return {
    cacheMap: async () => ({
      digest: sha256(JSON.stringify({ Type: "buildkit.diff.v0", Diff: op.diff })),
      deps: (op.inputs ?? []).map(() => ({})),
    }),
    async exec(refs, o) {
      const lower = lowerIndex >= 0 ? await immutable(refs[lowerIndex], "diff").layers(o) : [];
      const upper = upperIndex >= 0 ? await immutable(refs[upperIndex], "diff").layers(o) : [];
      const isPrefix = lower.every((l, i) => upper[i]?.diffId === l.diffId);
      if (!isPrefix) {
        throw new KilnError("NOT_IMPLEMENTED", "diff of two unrelated trees is not supported yet", {
          hint: "diff works when the lower state is an ancestor of the upper state",
        });
      }
      return [await env.refs.fromLayers(upper.slice(lower.length), description, o)];
    },
  };
}

function immutable(ref: Ref | undefined, op: string): ImmutableRef {
  if (!ref) throw new KilnError("INTERNAL", `${op} input missing`);
  if ("directory" in ref) {
    throw new KilnError(
      "NOT_IMPLEMENTED",
      `${op} of a local directory is not supported; copy it into a state first`,
    );
  }
  return ref;
}
