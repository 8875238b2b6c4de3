import { existsSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { type CallOptions, type Digest, isKilnError, KilnError, type Op, type Ref, sha256 } from "@kiln/core";
import { type ChecksumSelector, createContentHasher } from "../contenthash/index.js";
import { applyFileActions, type SourceTree } from "../fileop/index.js";
import { actionKind } from "../fileop/types.js";
import { captureLayerBlob } from "./layer-capture-blob.js";
import type { DecodedOp, OpEnvironment } from "./types.js";

/** The FileOp fields the builder reads (a structural subset of `pb.FileAction`). */
interface FileActionShape {
  input?: number;
  secondaryInput?: number;
  output?: number;
  copy?: {
    src?: string;
    dest?: string;
    followSymlink?: boolean;
    allowWildcard?: boolean;
    includePatterns?: readonly string[];
    excludePatterns?: readonly string[];
    requiredPaths?: readonly string[];
    owner?: OwnerShape;
  };
  mkfile?: { path?: string; owner?: OwnerShape };
  mkdir?: { path?: string; owner?: OwnerShape };
  rm?: { path?: string };
  symlink?: { oldpath?: string; newpath?: string; owner?: OwnerShape };
}

interface OwnerShape {
  user?: { byName?: { name?: string; input?: number } };
  group?: { byName?: { name?: string; input?: number } };
}

/**
 * FileOp: copy/mkdir/mkfile/rm/symlink actions applied to a copy of the primary input. The cache key
 * covers the actions (copy sources by basename) plus the content of what each copy reads.
 */
export function fileOp(op: DecodedOp, env: OpEnvironment, description: string): Op<Ref> {
  const actions = (op.file?.actions ?? []) as FileActionShape[];
  const inputCount = op.inputs?.length ?? 0;
  const selectors = selectorsByInput(actions, inputCount);
  const hasher = createContentHasher({ memo: env.fileDigests });

  return {
    async cacheMap() {
      const normalized = actions.map((a) => {
        const copy = a.copy;
        const fromSecondary =
          copy && a.secondaryInput !== undefined && a.secondaryInput >= 0 && a.secondaryInput < inputCount;
        return fromSecondary ? { ...a, copy: { ...copy, src: posix.basename(copy.src ?? "") } } : a;
      });
      const digest = sha256(JSON.stringify({ Type: "buildkit.file.v0", Actions: normalized }));
      const deps = Array.from({ length: inputCount }, (_, i) => {
        const sel = selectors.get(i);
        if (!sel) return {};
        return {
          selector: sha256(
            sel
              .map((s) => s.path)
              .sort()
              .reverse()
              .join("\0"),
          ),
          computeDigest: (input: Ref, o: CallOptions) =>
            withTree(input, o, (tree) => hasher.multiChecksum(tree, sel, o)),
        };
      });
      return { digest, deps };
    },
    async exec(inputs, o) {
      const first = actions[0];
      if (!first) throw new KilnError("INVALID_ARGUMENT", "file op without actions");
      const baseIndex = first.input ?? -1;
      const base = baseIndex >= 0 ? inputs[baseIndex] : undefined;
      if (base && "directory" in base) {
        throw new KilnError(
          "NOT_IMPLEMENTED",
          "file actions directly on a local directory are not supported",
        );
      }
      const trees: SourceTree[] = [];
      const releases: (() => Promise<void>)[] = [];
      try {
        for (const input of inputs) {
          const mounted = await mountTree(input, o);
          trees.push(mounted.tree);
          releases.push(mounted.release);
        }
        const result = await env.refs.build(
          base,
          description,
          async (target, setLayer) => {
            // A lone copy writes its layer while copying (see layer-capture.ts).
            const captured =
              actions.length === 1 && actionKind(first as never)?.case === "copy"
                ? captureLayerBlob(target, env.content, o)
                : undefined;
            try {
              await applyFileActions(actions as never, {
                inputs: trees,
                target,
                ...(captured ? { capture: captured.capture } : {}),
                ...(o.signal ? { signal: o.signal } : {}),
              });
            } catch (err) {
              captured?.capture.abandon();
              await captured?.finish();
              throw err;
            }
            const layer = await captured?.finish();
            if (layer) setLayer(layer);
          },
          o,
        );
        return [result];
      } catch (err) {
        let explained: unknown = err;
        for (const [index, sel] of selectors) {
          const input = inputs[index];
          if (input && explained === err) explained = explainIgnored(err, input, sel);
        }
        throw explained;
      } finally {
        await Promise.all(releases.map((r) => r()));
      }
    },
  };
}

// --- Internal helpers ---

/**
 * "not found" for a path that is in the context directory but excluded by .dockerignore is the most
 * common confusing COPY error (users' #1 complaint about it): say so, and name the file.
 */
function explainIgnored(err: unknown, input: Ref, selectors: readonly ChecksumSelector[]): unknown {
  if (!isKilnError(err, "NOT_FOUND") || !("directory" in input)) return err;
  for (const sel of selectors) {
    if (/[*?[\\]/.test(sel.path)) continue;
    const rel = posix.normalize(sel.path).replace(/^\/+/, "");
    if (rel === "" || !existsSync(join(input.directory, rel))) continue;
    if (!isVisible(input, rel)) {
      return new KilnError("NOT_FOUND", `${err.message}: "${rel}" is excluded by .dockerignore`, {
        cause: err,
        hint: `remove the pattern that matches ${rel} from .dockerignore (or add an exception: !${rel})`,
      });
    }
  }
  return err;
}

function isVisible(ref: Extract<Ref, { directory: string }>, rel: string): boolean {
  const parts = rel.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const path = parts.slice(0, i).join("/");
    const isDir = i < parts.length || statSync(join(ref.directory, path)).isDirectory();
    if (!ref.filter(path, isDir)) return false;
  }
  return true;
}

/** Per input: what the actions read from it (copy sources, and /etc/passwd for chown by name). */
function selectorsByInput(
  actions: readonly FileActionShape[],
  inputCount: number,
): Map<number, ChecksumSelector[]> {
  const out = new Map<number, ChecksumSelector[]>();
  const add = (input: number | undefined, sel: ChecksumSelector) => {
    if (input === undefined || input < 0 || input >= inputCount) return;
    const list = out.get(input) ?? [];
    if (!list.some((s) => JSON.stringify(s) === JSON.stringify(sel))) list.push(sel);
    out.set(input, list);
  };
  const addOwner = (owner: OwnerShape | undefined) => {
    if (owner?.user?.byName?.name) add(owner.user.byName.input, { path: "/etc/passwd", followLinks: true });
    if (owner?.group?.byName?.name) add(owner.group.byName.input, { path: "/etc/group", followLinks: true });
  };
  for (const a of actions) {
    if (a.copy) {
      const c = a.copy;
      add(a.secondaryInput, {
        path: c.src ?? "/",
        ...(c.followSymlink ? { followLinks: true } : {}),
        ...(c.allowWildcard ? { wildcard: true } : {}),
        ...(c.includePatterns?.length ? { includePatterns: [...c.includePatterns] } : {}),
        ...(c.excludePatterns?.length ? { excludePatterns: [...c.excludePatterns] } : {}),
        ...(c.requiredPaths?.length ? { requiredPaths: [...c.requiredPaths] } : {}),
      });
      addOwner(c.owner);
    }
    addOwner(a.mkfile?.owner ?? a.mkdir?.owner ?? a.symlink?.owner);
  }
  // An input that an action modifies in place is keyed by definition, not by content.
  for (const a of actions)
    if (a.input !== undefined && a.input >= 0 && a.input < inputCount) out.delete(a.input);
  return out;
}

async function mountTree(
  ref: Ref,
  o: CallOptions,
): Promise<{ tree: SourceTree; release: () => Promise<void> }> {
  if ("directory" in ref) {
    return {
      tree: { root: ref.directory, filter: ref.filter, ownership: { uid: 0, gid: 0 } },
      release: async () => {},
    };
  }
  const mounted = await ref.mount(o);
  return { tree: { root: mounted.path }, release: () => mounted.release() };
}

async function withTree(
  ref: Ref,
  o: CallOptions,
  fn: (tree: SourceTree) => Promise<Digest>,
): Promise<Digest> {
  const { tree, release } = await mountTree(ref, o);
  try {
    return await fn(tree);
  } finally {
    await release();
  }
}
