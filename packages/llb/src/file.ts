import { KilnError } from "@kiln/core";
import { Caps } from "./caps.js";
import {
  bindAction,
  type FileAction,
  type FileActionKind,
  isFileActionWithState,
  type Owner,
  type Timestamp,
} from "./file-action.js";
import { cleanPath, joinPath, normalizeActionPath } from "./paths.js";
import type * as pb from "./pb.js";
import type { State } from "./state.js";
import {
  baseOp,
  type MarshalContext,
  type OpOptions,
  type Output,
  opMetadata,
  type Vertex,
} from "./vertex.js";

export type { FileAction } from "./file-action.js";

/** Where an action reads from while the FileOp is being laid out (BuildKit's per-action state). */
interface ActionSlot {
  readonly fa: FileAction;
  /** Op input index of the action's own state (-1 for scratch); named owners resolve against it. */
  base: number;
  input: number;
  inputAction?: ActionSlot;
  secondaryInput: number;
  secondaryAction?: ActionSlot;
  target: number;
}

/** Builds the FileOp vertex for `base.file(action)`; its only output is index 0. */
export function createFileOp(base: State, action: FileAction, opts: OpOptions | undefined): Output {
  const bound = bindAction(action, base);
  const vertex: Vertex = {
    inputs: collectInputs(bound),
    marshal: (ctx) => marshalFileOp(bound, ctx, opts),
  };
  return { vertex, index: 0 };
}

/** Inputs in BuildKit's visiting order: the action's state, its copy source, then earlier actions. */
function collectInputs(last: FileAction): Output[] {
  const out: Output[] = [];
  const add = (o: Output | undefined) => {
    if (o && !out.includes(o)) out.push(o);
  };
  const walk = (fa: FileAction | undefined): void => {
    for (let a = fa; a; a = a.prev) {
      add(a.state?.output);
      if (a.action.kind === "copy") {
        const src = a.action.source;
        if (isFileActionWithState(src)) walk(src.boundAction);
        else add(src.output);
      }
    }
  };
  walk(last);
  return out;
}

function marshalFileOp(last: FileAction, ctx: MarshalContext, opts: OpOptions | undefined) {
  const op = baseOp(ctx, opts);
  delete op.platform; // file ops are not platform specific
  const inputs: pb.Input[] = [];
  const slots: ActionSlot[] = [];
  const visited = new Map<FileAction, ActionSlot>();
  const addInput = (o: Output): number => {
    const edge = ctx.input(o);
    const i = inputs.findIndex((x) => x.digest === edge.digest && (x.index ?? 0) === (edge.index ?? 0));
    return i >= 0 ? i : inputs.push(edge) - 1;
  };
  const add = (fa: FileAction): ActionSlot => {
    const seen = visited.get(fa);
    if (seen) return seen;
    const prev = fa.prev && add(fa.prev);
    const slot: ActionSlot = { fa, base: -1, input: -1, secondaryInput: -1, target: 0 };
    const own = fa.state?.output;
    if (own) slot.base = addInput(own);
    if (prev) slot.inputAction = prev;
    else slot.input = slot.base;
    if (fa.action.kind === "copy") {
      const src = fa.action.source;
      if (isFileActionWithState(src)) slot.secondaryAction = add(src.boundAction);
      else if (src.output) slot.secondaryInput = addInput(src.output);
    }
    slot.target = slots.length;
    visited.set(fa, slot);
    slots.push(slot);
    return slot;
  };
  add(last);

  const caps = new Set<string>([Caps.fileBase]);
  const index = (direct: number, action: ActionSlot | undefined) =>
    action ? inputs.length + action.target : direct;
  const actions = slots.map(
    (slot, i): pb.FileAction => ({
      input: index(slot.input, slot.inputAction),
      secondaryInput: index(slot.secondaryInput, slot.secondaryAction),
      output: i === slots.length - 1 ? 0 : -1,
      action: toProtoAction(slot.fa, slot.base, caps),
    }),
  );
  op.inputs = inputs;
  op.op = { case: "file", value: { actions } };
  return { op, metadata: opMetadata(opts, caps) };
}

function toProtoAction(fa: FileAction, base: number, caps: Set<string>): pb.FileActionKind {
  const a: FileActionKind = fa.action;
  const parent = fa.state?.getDir() ?? "";
  switch (a.kind) {
    case "mkdir":
      return {
        case: "mkdir",
        value: {
          path: normalizeActionPath(parent, a.path, false),
          mode: a.mode & 0o777,
          makeParents: !!a.opts.makeParents,
          ...owner(a.opts.owner, base),
          timestamp: timestamp(a.opts.timestamp),
        },
      };
    case "mkfile":
      return {
        case: "mkfile",
        value: {
          path: normalizeActionPath(parent, a.path, false),
          mode: a.mode & 0o777,
          data: a.data,
          ...owner(a.opts.owner, base),
          timestamp: timestamp(a.opts.timestamp),
        },
      };
    case "rm":
      return {
        case: "rm",
        value: {
          path: normalizeActionPath(parent, a.path, false),
          allowNotFound: !!a.opts.allowNotFound,
          allowWildcard: !!a.opts.allowWildcard,
        },
      };
    case "symlink":
      caps.add(Caps.fileSymlinkCreate);
      return {
        case: "symlink",
        value: {
          oldpath: a.oldpath,
          newpath: a.newpath,
          ...owner(a.opts.owner, base),
          timestamp: timestamp(a.opts.timestamp),
        },
      };
    case "copy":
      return { case: "copy", value: toProtoCopy(a, parent, base, caps) };
  }
}

function toProtoCopy(
  a: Extract<FileActionKind, { kind: "copy" }>,
  parent: string,
  base: number,
  caps: Set<string>,
): pb.FileActionCopy {
  const o = a.opts;
  // The source path resolves against the directory of the state the copy reads from.
  const src = cleanPath(a.src);
  const from = isFileActionWithState(a.source) ? a.source.boundAction.state : a.source;
  const srcDir = src.startsWith("/") ? "/" : (from?.getDir() ?? "/");
  const copy: pb.FileActionCopy = {
    src: joinPath(srcDir, src),
    dest: normalizeActionPath(parent, a.dest, true),
    ...owner(o.owner, base),
    mode: o.modeStr ? 0 : (o.mode ?? -1),
    followSymlink: !!o.followSymlink,
    dirCopyContents: !!o.dirCopyContents,
    attemptUnpackDockerCompatibility: !!o.attemptUnpackDockerCompatibility,
    createDestPath: !!o.createDestPath,
    allowWildcard: !!o.allowWildcard,
    allowEmptyWildcard: !!o.allowEmptyWildcard,
    timestamp: timestamp(o.timestamp),
    includePatterns: [...(o.includePatterns ?? [])],
    excludePatterns: [...(o.excludePatterns ?? [])],
    alwaysReplaceExistingDestPaths: !!o.alwaysReplaceExistingDestPaths,
    modeStr: o.modeStr ?? "",
    requiredPaths: [...(o.requiredPaths ?? [])],
  };
  if (o.includePatterns?.length || o.excludePatterns?.length) caps.add(Caps.fileCopyIncludeExcludePatterns);
  if (o.requiredPaths?.length) caps.add(Caps.fileCopyRequiredPaths);
  if (o.alwaysReplaceExistingDestPaths) caps.add(Caps.fileCopyAlwaysReplaceExistingDestPaths);
  if (o.modeStr) caps.add(Caps.fileCopyModeString);
  return copy;
}

/** Unset times are -1 on the wire ("keep"), set ones Unix nanoseconds. */
function timestamp(t: Timestamp | undefined): bigint {
  if (t === undefined) return -1n;
  return typeof t === "bigint" ? t : BigInt(t.getTime()) * 1_000_000n;
}

function owner(o: Owner | undefined, base: number): { owner?: pb.ChownOpt } {
  if (o === undefined) return {};
  let user: string | number | undefined;
  let group: string | number | undefined;
  if (typeof o === "string") {
    const colon = o.indexOf(":");
    user = colon < 0 ? o : o.slice(0, colon);
    group = colon < 0 ? undefined : o.slice(colon + 1);
  } else ({ user, group } = o);
  const chown: pb.ChownOpt = {};
  if (user !== undefined) chown.user = userOpt(user, base);
  if (group !== undefined) chown.group = userOpt(group, base);
  return { owner: chown };
}

/**
 * Numeric ids (int32 range), `root` and "" become ids; anything else is a name looked up in the
 * /etc/passwd or /etc/group of the op input `base`.
 */
function userOpt(v: string | number, base: number): pb.UserOpt {
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new KilnError("INVALID_ARGUMENT", `invalid user or group id ${v}`);
    }
    return { user: { case: "byId", value: v } };
  }
  const n = /^[+-]?\d+$/.test(v) ? Number(v) : Number.NaN;
  const id = v === "root" || v === "" ? 0 : n >= -(2 ** 31) && n < 2 ** 31 ? n : undefined;
  if (id === undefined) return { user: { case: "byName", value: { name: v, input: base } } };
  return { user: { case: "byId", value: id >>> 0 } };
}
