import { execFile } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { digestHex } from "@kiln/core";
import { buildBusyboxLayout, makeTempDir, type TempDir } from "../../testkit/src/index.js";
import { mountsUnder } from "./mounts.js";

const exec = promisify(execFile);

/** A busybox tree (the testkit fixture's layer, extracted) that tests copy before changing it. */
export async function busyboxTree(): Promise<TempDir & { tree: string }> {
  const dir = await makeTempDir("executor-fixture");
  const layout = await buildBusyboxLayout(join(dir.path, "layout"), { tag: "busybox" });
  const tree = join(dir.path, "tree");
  await mkdir(tree);
  await exec("tar", [
    "-xzf",
    join(layout.dir, "blobs", "sha256", digestHex(layout.layer.digest)),
    "-C",
    tree,
  ]);
  return { ...dir, tree };
}

/** A fresh copy of `tree` at `dest` (ownership and modes kept). */
export async function copyTree(tree: string, dest: string): Promise<string> {
  await exec("cp", ["-a", tree, dest]);
  return dest;
}

/** What an executor root still holds: bundle dirs, runtime state, mounts. All empty after a clean run. */
export async function leftovers(
  root: string,
): Promise<{ bundles: string[]; state: string[]; mounts: string[] }> {
  const list = (dir: string) => readdir(dir).catch(() => [] as string[]);
  return {
    bundles: await list(join(root, "bundles")),
    state: await list(join(root, "runc")),
    mounts: await mountsUnder(root),
  };
}

export const NOTHING_LEFT = { bundles: [], state: [], mounts: [] };

/** Collects a stream's chunks as text. */
export function collector(): { push: (chunk: Uint8Array) => void; text: () => string } {
  const chunks: Buffer[] = [];
  return { push: (c) => chunks.push(Buffer.from(c)), text: () => Buffer.concat(chunks).toString("utf8") };
}
