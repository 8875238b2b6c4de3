import { chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import { join } from "node:path";

/**
 * Private per-step directories in the store (a secret's file, the throw-away copy of a writable bind
 * mount). Their names carry the owning process id, so a later kiln removes those a killed process
 * left behind — a secret must not outlive its step on disk — without touching a live build's.
 */
export type StepDirKind = "secret" | "rw-mount";

const STEP_DIR = /^(secret|rw-mount)-(\d+)-/;

export async function makeStepDir(storeRoot: string, kind: StepDirKind): Promise<string> {
  const dir = await mkdtemp(join(storeRoot, `${kind}-${process.pid}-`));
  await chmod(dir, 0o700);
  return dir;
}

/** Removes the step directories of processes that no longer run; returns their names. */
export async function removeStaleStepDirs(storeRoot: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(storeRoot).catch(() => [])) {
    const pid = Number(STEP_DIR.exec(name)?.[2]);
    if (!pid || processAlive(pid)) continue;
    await rm(join(storeRoot, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
