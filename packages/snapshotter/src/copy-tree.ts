import { spawn } from "node:child_process";
import { type CallOptions, KilnError, throwIfAborted } from "@kiln/core";

/**
 * Copies the tree under `src` onto the existing directory `dst` (including `src`'s own mode, owner and
 * times) with `cp -a`.
 *
 * Why a child process: Node has no xattr API and `fs.utimes` takes a double, which cannot carry
 * nanosecond timestamps. The layer differ treats equal nanosecond mtimes as "unchanged", so a copy that
 * rounded them would make every file of a child snapshot look modified. `cp -a` keeps ns times,
 * owners, modes (setuid included), symlinks, hardlinks inside the tree, special files and (where the
 * filesystem allows) xattrs, and uses reflinks when the filesystem has them.
 */
export async function copyTree(src: string, dst: string, o: CallOptions = {}): Promise<void> {
  throwIfAborted(o.signal);
  const stderr: Buffer[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn("cp", ["-a", "--", `${src}/.`, dst], {
      stdio: ["ignore", "ignore", "pipe"],
      signal: o.signal,
    });
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", reject);
    child.on("close", resolve);
  }).catch((err: unknown) => {
    throwIfAborted(o.signal);
    throw new KilnError("UNAVAILABLE", `cannot run cp to copy ${src}`, {
      cause: err,
      hint: "the native snapshotter needs `cp` (GNU coreutils or busybox) on PATH",
    });
  });
  throwIfAborted(o.signal);
  if (code !== 0) {
    throw new KilnError(
      "INTERNAL",
      `copying ${src} to ${dst} failed: ${Buffer.concat(stderr).toString().trim()}`,
      {
        details: { exitCode: code },
      },
    );
  }
}
