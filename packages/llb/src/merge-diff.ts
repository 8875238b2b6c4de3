import { Caps } from "./caps.js";
import * as pb from "./pb.js";
import { type State, scratch } from "./state.js";
import { baseOp, type OpOptions, type Output, opMetadata, type Vertex } from "./vertex.js";

/**
 * Layers `states` on top of each other (later ones win). Scratch inputs are dropped; with one input
 * left that state is returned as is, with none, scratch. The result keeps the first state's metadata.
 */
export function merge(states: readonly State[], opts?: OpOptions): State {
  const kept = states.filter((s) => s.output !== undefined);
  const first = kept[0];
  if (!first) return scratch();
  if (kept.length === 1) return first;
  const outputs = kept.map((s) => s.output as Output);
  const vertex: Vertex = {
    inputs: outputs,
    marshal(ctx) {
      const op = baseOp(ctx, opts);
      delete op.platform; // merge ops are not platform specific
      // Every input gets its own edge, even when two states are the same output.
      op.inputs = outputs.map((o) => ctx.input(o));
      op.op = { case: "merge", value: { inputs: outputs.map((_, input) => ({ input })) } };
      return { op, metadata: opMetadata(opts, [Caps.mergeOp]) };
    },
  };
  return first.withOutput({ vertex, index: 0 });
}

/**
 * The changes that turn `lower` into `upper`. A scratch lower gives `upper` itself; a scratch upper
 * is input -1 (empty). The result keeps `lower`'s metadata.
 */
export function diff(lower: State, upper: State, opts?: OpOptions): State {
  const lowerOut = lower.output;
  if (!lowerOut) return upper.output ? upper : scratch();
  const upperOut = upper.output;
  const outputs = upperOut ? [lowerOut, upperOut] : [lowerOut];
  const vertex: Vertex = {
    inputs: outputs,
    marshal(ctx) {
      const op = baseOp(ctx, opts);
      delete op.platform; // diff ops are not platform specific
      op.inputs = outputs.map((o) => ctx.input(o));
      op.op = {
        case: "diff",
        value: { lower: { input: 0 }, upper: { input: upperOut ? 1 : pb.EMPTY_INPUT } },
      };
      return { op, metadata: opMetadata(opts, [Caps.diffOp]) };
    },
  };
  return lower.withOutput({ vertex, index: 0 });
}
