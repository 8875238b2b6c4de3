import { readFile } from "node:fs/promises";
import { KilnError, type Mount } from "@kiln/core";
import { runCommand } from "./command.js";

/** Whether a snapshotter mount list is one plain bind mount, usable as a path without any syscall. */
export function singleBind(mounts: readonly Mount[]): Mount | undefined {
  const [only] = mounts;
  return mounts.length === 1 && only?.type === "bind" ? only : undefined;
}

export const isReadonly = (m: Mount): boolean => m.options.includes("ro");

/**
 * Mounts a snapshotter mount list on `target`, in order (containerd's semantics: each one on the same
 * target). On failure the mounts that succeeded are undone before the error is thrown; `unmountUnder`
 * undoes a complete stack.
 */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  let done = 0;
  try {
    for (const m of mounts) {
      await mountOne(m, target);
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) await unmount(target).catch(() => {});
    throw err;
  }
}

async function mountOne(m: Mount, target: string): Promise<void> {
  if (m.type === "bind") {
    const recursive = m.options.includes("rbind");
    await runCommand("mount", [recursive ? "--rbind" : "--bind", m.source, target], "FAILED_PRECONDITION");
    // A bind mount ignores `ro` on the first call; the read-only flag needs a remount.
    if (isReadonly(m)) await runCommand("mount", ["-o", "remount,bind,ro", target], "FAILED_PRECONDITION");
    return;
  }
  const options = m.options.join(",");
  const args = ["-t", m.type, ...(options ? ["-o", options] : []), m.source, target];
  await runCommand("mount", args, "FAILED_PRECONDITION").catch((err: unknown) => {
    throw new KilnError("FAILED_PRECONDITION", `cannot mount the ${m.type} file system at ${target}`, {
      cause: err,
      hint:
        m.type === "overlay" && options.length > 4000
          ? "the overlay options exceed the kernel's one-page limit; the snapshotter must shorten lowerdir"
          : undefined,
      details: { mount: m },
    });
  });
}

/** Unmounts `target` once; falls back to a lazy detach when it is busy so the path is free afterwards. */
export async function unmount(target: string): Promise<void> {
  try {
    await runCommand("umount", [target]);
  } catch (err) {
    try {
      await runCommand("umount", ["-l", target]);
    } catch {
      throw err;
    }
  }
}

/** Mount points at or below `dir` in this mount namespace, the most recently mounted first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const field = line.split(" ")[4];
    if (field === undefined) continue;
    const point = unescapeMountinfo(field);
    if (point === dir || point.startsWith(prefix)) out.push(point);
  }
  return out.reverse();
}

/** mountinfo escapes space, tab, newline and backslash as `\ooo` octal. */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** Unmounts everything at or below `dir` (stacked mounts included); throws if something stays mounted. */
export async function unmountUnder(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for (let attempt = 0; attempt < 8; attempt++) {
    const points = await mountsUnder(dir);
    if (points.length === 0) return removed;
    for (const point of points) {
      await unmount(point).catch(() => {});
      removed.push(point);
    }
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) {
    throw new KilnError("INTERNAL", `cannot unmount ${left.join(", ")}`, {
      hint: "something still uses the mount; it is retried at the next start",
    });
  }
  return removed;
}
