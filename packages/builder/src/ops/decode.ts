import type { pb } from "@kiln/llb";
import type { DecodedOp } from "./types.js";

/**
 * Flattens `@kiln/llb`'s decoded `pb.Op` (oneofs as `{ case, value }`, "keep" encoded as -1) into the
 * plain shape the op implementations read: one optional field per op kind and per file action, unset
 * instead of -1, timestamps in seconds.
 */
export function flattenOp(op: pb.Op): DecodedOp {
  const kind = op.op;
  const base: DecodedOp = {
    inputs: (op.inputs ?? []).map((i) => ({ digest: i.digest ?? "", index: i.index ?? 0 })),
    ...(op.platform ? { platform: op.platform } : {}),
  };
  switch (kind?.case) {
    case "source":
      return { ...base, source: { identifier: kind.value.identifier ?? "", attrs: kind.value.attrs ?? {} } };
    case "file":
      return { ...base, file: { actions: (kind.value.actions ?? []).map(flattenAction) } };
    case "exec":
      return { ...base, exec: kind.value };
    case "merge":
      return { ...base, merge: { inputs: (kind.value.inputs ?? []).map((i) => ({ input: i.input ?? 0 })) } };
    case "diff":
      return {
        ...base,
        diff: {
          lower: { input: kind.value.lower?.input ?? -1 },
          upper: { input: kind.value.upper?.input ?? -1 },
        },
      };
    default:
      return base;
  }
}

function flattenAction(a: pb.FileAction): Record<string, unknown> {
  const out: Record<string, unknown> = {
    input: a.input ?? 0,
    secondaryInput: a.secondaryInput ?? 0,
    output: a.output ?? 0,
  };
  const act = a.action;
  if (!act) return out;
  const v = { ...act.value } as Record<string, unknown>;
  if ("owner" in v) v.owner = flattenOwner((act.value as { owner?: pb.ChownOpt }).owner);
  if (typeof v.mode === "number" && v.mode < 0) delete v.mode;
  if (typeof v.timestamp === "bigint") {
    if (v.timestamp < 0n) delete v.timestamp;
    else v.timestamp = Number(v.timestamp / 1_000_000_000n);
  }
  out[act.case] = v;
  return out;
}

function flattenOwner(owner: pb.ChownOpt | undefined): unknown {
  if (!owner) return undefined;
  const user = (u: pb.UserOpt | undefined) => {
    if (!u?.user) return undefined;
    return u.user.case === "byName"
      ? { byName: { name: u.user.value.name ?? "", input: u.user.value.input ?? 0 } }
      : { byId: u.user.value };
  };
  return { user: user(owner.user), group: user(owner.group) };
}
