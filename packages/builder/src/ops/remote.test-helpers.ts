import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { noopProgress, type Op, type Ref } from "@kiln/core";
import { type LocalStore, openLocalStore, type SnapshotterChoice } from "../store.js";
import { sourceOp } from "./source.js";
import type { OpEnvironment } from "./types.js";

/** A store plus the op environment that source ops see, for testing ops without a solver. */
export async function openTestEnv(
  root: string,
  secrets: Record<string, string> = {},
  snapshotter: SnapshotterChoice = "native",
): Promise<{ store: LocalStore; env: OpEnvironment }> {
  const store = await openLocalStore(root, { snapshotter });
  const env: OpEnvironment = {
    refs: store.refs,
    content: store.content,
    fileDigests: store.fileDigests,
    localDirs: new Map(),
    ociStores: new Map(),
    storeRoot: store.root,
    secret: async (id) => (secrets[id] === undefined ? undefined : Buffer.from(secrets[id] as string)),
  };
  return { store, env };
}

export function sourceFor(
  env: OpEnvironment,
  identifier: string,
  attrs: Record<string, string> = {},
): Op<Ref> {
  return sourceOp({ source: { identifier, attrs } }, env);
}

export async function runOp(op: Op<Ref>): Promise<Ref> {
  const [ref] = await op.exec([], { progress: noopProgress });
  if (!ref) throw new Error("op returned no result");
  return ref;
}

export interface FileInfo {
  content: string;
  mode: number;
  uid: number;
  mtime: number;
}

/** Every file of a ref (recursively, `/`-separated), with content, mode, owner and mtime. */
export async function filesOf(ref: Ref): Promise<Record<string, FileInfo>> {
  const mounted = await ref.mount();
  try {
    const out: Record<string, FileInfo> = {};
    const walk = async (dir: string, prefix: string) => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
        if (entry.isDirectory()) await walk(path, rel);
        else {
          const st = await stat(path);
          out[rel] = {
            content: await readFile(path, "utf8"),
            mode: st.mode & 0o7777,
            uid: st.uid,
            mtime: Math.floor(st.mtimeMs / 1000),
          };
        }
      }
    };
    await walk(mounted.path, "");
    return out;
  } finally {
    await mounted.release();
  }
}
