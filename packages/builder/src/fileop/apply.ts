import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CallOptions, isKilnError, KilnError, throwIfAborted } from "@kiln/core";
import { createCopier } from "./copier.js";
import { runCopy } from "./copy-action.js";
import type { LayerCapture } from "./layer-capture.js";
import { resolveOwner } from "./owner.js";
import { runMkdir, runMkfile, runRm, runSymlink } from "./simple-actions.js";
import { actionKind, type FileAction, int64, type SourceTree, userChoice } from "./types.js";

export interface ApplyFileActionsOptions extends CallOptions {
  /** The op's inputs, in input order. */
  readonly inputs: readonly SourceTree[];
  /**
   * Host directory of the mutable output tree. It already holds a copy of the input the result chain
   * starts from (empty when that chain starts from -1); it is modified in place.
   */
  readonly target: string;
  /** Where snapshots of intermediate trees go when an action reads one (default: the OS temp dir). */
  readonly scratchDir?: string;
  /** Writes the layer during the copy when the op is a single copy on `target` (layer-capture.ts). */
  readonly capture?: LayerCapture;
}

/**
 * Executes a FileOp's actions on `target`. The result is the action with `output` 0 (the last one when
 * several qualify); its chain of `input` links back to an op input (or -1) runs in order on `target`.
 * Actions off that chain run only when read (as a copy source or a user database), each chain in a
 * scratch copy; a tree the chain itself produced is snapshotted when a later action reads it, so a
 * copy never reads the tree it is writing.
 */
export async function applyFileActions(
  actions: readonly FileAction[],
  o: ApplyFileActionsOptions,
): Promise<void> {
  throwIfAborted(o.signal);
  const n = o.inputs.length;
  const total = n + actions.length;
  const at = (i: number) => actions[i] as FileAction;
  actions.forEach((a, i) => {
    // Only a copy reads its secondary input; absent int64 fields are 0 (proto3), never -1.
    const indexes =
      actionKind(a)?.case === "copy" ? [int64(a.input), int64(a.secondaryInput)] : [int64(a.input)];
    for (const idx of indexes) {
      if (idx < -1 || idx >= total || (idx >= n && idx - n >= i)) {
        throw new KilnError("INVALID_ARGUMENT", `file action ${i}: invalid input index ${idx}`);
      }
    }
    if (!actionKind(a)) throw new KilnError("INVALID_ARGUMENT", `file action ${i} has no operation`);
  });
  if (actions.length === 0) return;

  let result = actions.length - 1;
  for (let i = actions.length - 1; i >= 0; i--) {
    if (int64(at(i).output) >= 0) {
      result = i;
      break;
    }
  }
  const main = chainOf(result);
  const onMain = new Set(main);
  const needSnapshot = new Set<number>();
  actions.forEach((a, i) => {
    const kind = actionKind(a);
    const reads: number[] = [];
    if (kind?.case === "copy") reads.push(int64(a.secondaryInput));
    if (!onMain.has(i)) reads.push(int64(a.input));
    for (const idx of userDatabaseInputs(kind)) {
      // Reading the tree the action itself modifies happens before it runs: no snapshot needed.
      if (!(onMain.has(i) && idx === int64(a.input))) reads.push(idx);
    }
    for (const idx of reads) if (idx >= n && onMain.has(idx - n)) needSnapshot.add(idx - n);
  });

  const scratch: string[] = [];
  const snapshots = new Map<number, string>();
  const materialized = new Map<number, Promise<string>>();
  const newScratch = async (): Promise<string> => {
    const dir = await mkdtemp(join(o.scratchDir ?? tmpdir(), "kiln-fileop-"));
    scratch.push(dir);
    return dir;
  };
  const copyTreeInto = async (tree: SourceTree, dir: string) =>
    createCopier({ source: tree, targetRoot: dir, signal: o.signal }).copyTree(tree.root, "", dir);

  /** The tree an index names when read by an action (never the live target). */
  const treeOf = async (idx: number): Promise<SourceTree> => {
    if (idx === -1) return { root: await newScratch() };
    if (idx < n) return o.inputs[idx] as SourceTree;
    const j = idx - n;
    const snap = snapshots.get(j);
    if (snap !== undefined) return { root: snap };
    if (onMain.has(j)) throw new KilnError("INTERNAL", `file action ${j} was read before it ran`);
    let pending = materialized.get(j);
    if (!pending) {
      pending = materialize(j);
      materialized.set(j, pending);
    }
    return { root: await pending };
  };

  const materialize = async (j: number): Promise<string> => {
    const chain = chainOf(j);
    const dir = await newScratch();
    const base = int64(at(chain[0] as number).input);
    if (base !== -1) await copyTreeInto(await treeOf(base), dir);
    for (const i of chain) await run(i, dir);
    return dir;
  };

  const run = async (i: number, root: string): Promise<void> => {
    throwIfAborted(o.signal);
    const a = at(i);
    const kind = actionKind(a) as NonNullable<ReturnType<typeof actionKind>>;
    try {
      const lookup = async (idx: number) => (idx === int64(a.input) ? root : (await treeOf(idx)).root);
      const owner = "owner" in kind.value ? await resolveOwner(kind.value.owner, lookup) : undefined;
      switch (kind.case) {
        case "copy":
          await runCopy(kind.value, {
            target: root,
            source: await treeOf(int64(a.secondaryInput)),
            owner,
            ...(o.capture && actions.length === 1 && root === o.target ? { capture: o.capture } : {}),
            signal: o.signal,
          });
          break;
        case "mkdir":
          await runMkdir(root, kind.value, owner);
          break;
        case "mkfile":
          await runMkfile(root, kind.value, owner);
          break;
        case "rm":
          await runRm(root, kind.value);
          break;
        case "symlink":
          await runSymlink(root, kind.value, owner);
          break;
      }
    } catch (err) {
      if (isKilnError(err)) {
        throw new KilnError(err.code, err.message, {
          cause: err,
          hint: err.hint,
          details: { ...err.details, action: i },
        });
      }
      throw err;
    }
  };

  function chainOf(last: number): number[] {
    const chain = [last];
    for (let idx = int64(at(last).input); idx >= n; idx = int64(at(idx - n).input)) chain.unshift(idx - n);
    return chain;
  }

  try {
    for (const i of main) {
      await run(i, o.target);
      if (needSnapshot.has(i)) {
        const dir = await newScratch();
        await copyTreeInto({ root: o.target }, dir);
        snapshots.set(i, dir);
      }
    }
  } finally {
    await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })));
  }
}

/** Input indexes whose `/etc/passwd` or `/etc/group` a chown by name reads. */
function userDatabaseInputs(kind: ReturnType<typeof actionKind>): number[] {
  if (!kind || !("owner" in kind.value)) return [];
  const owner = kind.value.owner;
  const out: number[] = [];
  for (const who of [userChoice(owner?.user), userChoice(owner?.group)]) {
    if (who?.byName) out.push(int64(who.byName.input));
  }
  return out;
}
