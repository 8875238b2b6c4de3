import { randomBytes } from "node:crypto";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { unmountUnder } from "./mounts.js";
import { deleteContainer, findRuntime, killContainer, listContainers, type Runtime } from "./runc.js";

/** What `cleanupStale` removed. */
export interface StaleCleanup {
  readonly containers: readonly string[];
  readonly mounts: readonly string[];
  readonly bundles: readonly string[];
}

export interface ExecutorPaths {
  readonly root: string;
  readonly bundles: string;
  readonly runtimeState: string;
}

export function executorPaths(root: string): ExecutorPaths {
  const abs = resolve(root);
  return { root: abs, bundles: join(abs, "bundles"), runtimeState: join(abs, "runc") };
}

/** Container ids carry the pid of the kiln process that owns them: `kiln-<pid>-<random>`. */
export function newContainerId(): string {
  return `kiln-${process.pid}-${randomBytes(6).toString("hex")}`;
}

function ownerPid(id: string): number | undefined {
  const match = /^kiln-(\d+)-[0-9a-f]+$/.exec(id);
  return match ? Number(match[1]) : undefined;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the pid exists but belongs to someone else, so it may be a live kiln of another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Leftovers of a kiln process that no longer exists; ids kiln did not create are never touched. */
const isStale = (id: string): boolean => {
  const pid = ownerPid(id);
  return pid !== undefined && !isAlive(pid);
};

/**
 * Removes what killed kiln processes left under `root`: their containers (killed, then deleted from
 * the runtime's state), mounts under `<root>/bundles/<id>` and the bundle directories. Runs of live
 * processes, including other kiln processes sharing the root, are left alone. A reused pid keeps its
 * predecessor's leftovers until it exits too.
 */
export async function cleanupStale(options: { root: string; runtime?: string }): Promise<StaleCleanup> {
  const paths = executorPaths(options.root);
  return cleanupStaleWith(await findRuntime(options.runtime ?? "runc", paths.runtimeState), paths);
}

export async function cleanupStaleWith(rt: Runtime, paths: ExecutorPaths): Promise<StaleCleanup> {
  await mkdir(paths.bundles, { recursive: true, mode: 0o700 });
  await mkdir(paths.runtimeState, { recursive: true, mode: 0o700 });
  const containers: string[] = [];
  for (const c of await listContainers(rt)) {
    if (!isStale(c.id)) continue;
    // Killing the init of the pid namespace ends every process in it; delete then drops the state.
    await killContainer(rt, c.id);
    await deleteContainer(rt, c.id);
    containers.push(c.id);
  }
  const mounts: string[] = [];
  const bundles: string[] = [];
  for (const name of await readdir(paths.bundles)) {
    if (!isStale(name)) continue;
    const dir = join(paths.bundles, name);
    mounts.push(...(await unmountUnder(dir)));
    // unmountUnder throws if anything stays mounted, so this rm can never reach into a snapshot.
    await rm(dir, { recursive: true, force: true });
    bundles.push(name);
  }
  return { containers, mounts, bundles };
}
