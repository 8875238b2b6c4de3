import { spawn } from "node:child_process";
import { readdir, readFile, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { KilnError } from "@kiln/core";
import { errnoCode, isMissing } from "./fs-errors.js";
import { processAlive } from "./native-store.js";

/**
 * mount(8)/umount(8) as child processes: Node has no mount syscall binding. A child also gives the
 * syscall its own working directory, which overlay needs for relative lowerdirs (see mounts.ts).
 */

interface RunResult {
  readonly code: number | null;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
    const stderr: Buffer[] = [];
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (err) =>
      reject(
        new KilnError("UNAVAILABLE", `cannot run ${command}`, {
          cause: err,
          hint: "overlay snapshots need mount(8) and umount(8) (util-linux) on PATH",
        }),
      ),
    );
    child.on("close", (code) => resolve({ code, stderr: Buffer.concat(stderr).toString().trim() }));
  });
}

/** `mount -t overlay overlay -o <data> <target>`, issued from `cwd` when given. */
export async function mountOverlay(data: string, target: string, cwd?: string): Promise<void> {
  const { code, stderr } = await run("mount", ["-t", "overlay", "overlay", "-o", data, target], cwd);
  if (code !== 0) {
    throw new KilnError("INTERNAL", `mounting overlay on ${target} failed: ${stderr}`, {
      hint: "overlay needs root (or a user namespace with userxattr) and an upper filesystem that supports it",
      details: { exitCode: code, data, cwd },
    });
  }
}

const BUSY_RETRIES = [10, 25, 50, 100, 200, 400];

/**
 * Unmounts `target`, retrying while it is busy (a process may still be leaving it); as a last resort
 * detaches it lazily so the caller can go on. "Not mounted" counts as done.
 */
export async function unmount(target: string): Promise<void> {
  let last: RunResult | undefined;
  for (const delay of [0, ...BUSY_RETRIES]) {
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    last = await run("umount", [target]);
    if (last.code === 0 || NOT_MOUNTED.test(last.stderr)) return;
    if (!/busy/i.test(last.stderr)) break;
  }
  const lazy = await run("umount", ["-l", target]);
  if (lazy.code !== 0 && !NOT_MOUNTED.test(lazy.stderr)) {
    throw new KilnError("INTERNAL", `unmounting ${target} failed: ${last?.stderr ?? lazy.stderr}`, {
      details: { exitCode: lazy.code },
    });
  }
}

/** umount(8)'s messages for a path that is no mount point (any more). */
const NOT_MOUNTED = /not mounted|no mount point|mountpoint not found/i;

/** Octal escapes (`\040` for a space) of /proc/self/mountinfo fields. */
const unescapeMountField = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));

/** Mount points of this mount namespace, from /proc/self/mountinfo (field 5). */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => unescapeMountField(line.split(" ")[4] ?? ""));
}

/** Mount targets are `<mountDir>/<pid>-<random>`; this is the pid part. */
export const mountTargetPrefix = (): string => `${process.pid}-`;

/**
 * Cleans `mountDir` after processes that were killed while they held mounts: everything under an
 * entry `<pid>-…` of a dead process is unmounted (deepest first), then the entry is deleted. The
 * deletion only happens once nothing is mounted below it, so it never reaches into a mounted tree.
 */
export async function removeStaleMounts(mountDir: string): Promise<string[]> {
  const entries = await readdir(mountDir).catch((err: unknown) => {
    if (errnoCode(err) === "ENOENT") return [];
    throw err;
  });
  const removed: string[] = [];
  for (const entry of entries) {
    const pid = Number(/^(\d+)-/.exec(entry)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) continue;
    const dir = join(mountDir, entry);
    const below = (await mountPoints()).filter((p) => p === dir || p.startsWith(dir + sep));
    try {
      for (const p of below.sort((a, b) => b.length - a.length)) await unmount(p);
      const still = (await mountPoints()).some((p) => p === dir || p.startsWith(dir + sep));
      if (still) continue;
      await rmdir(dir).catch(() => rm(dir, { recursive: true, force: true }));
      removed.push(entry);
    } catch {
      // Left for the next open; a stale mount must not make the snapshotter unusable.
    }
  }
  return removed;
}

/**
 * Overlay's `volatile` option skips every sync to the upper filesystem, above all the one at unmount
 * (tens of milliseconds per build step). kiln never fsyncs snapshots anyway: its crash safety is
 * about killed processes, whose writes are in the page cache. Overlay leaves
 * `<workdir>/work/incompat/volatile` behind and refuses to mount that workdir again until it is
 * removed, which is safe once the machine has not crashed since the marker was made. So: removed
 * after a clean unmount, and before a mount if it was made in this boot; a marker from before the
 * last boot (a machine crash while mounted) means the upper layer may have lost writes.
 */
export function volatileMarker(workdir: string): string {
  return join(workdir, "work", "incompat");
}

export async function clearVolatileMarker(workdir: string): Promise<void> {
  const marker = volatileMarker(workdir);
  const made = await stat(join(marker, "volatile")).catch((err: unknown) => {
    if (isMissing(err)) return undefined;
    throw err;
  });
  if (made === undefined) return;
  if (made.mtimeMs / 1000 < (await bootTime())) {
    throw new KilnError("DATA_LOSS", `${dirname(workdir)} was mounted when the machine went down`, {
      hint: "its writes may be lost: remove the snapshot (or the whole build) and build again",
    });
  }
  await rm(marker, { recursive: true, force: true });
}

async function bootTime(): Promise<number> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n").find((l) => l.startsWith("btime "));
  return Number(line?.slice("btime ".length) ?? 0);
}
