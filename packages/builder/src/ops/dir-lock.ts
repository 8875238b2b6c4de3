import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type CallOptions, KilnError } from "@kiln/core";

const inProcess = new Map<string, Promise<unknown>>();
const STALE_WITHOUT_OWNER_MS = 10_000;

/**
 * Runs `fn` while holding `<path>.lock`, across processes that share a store (a directory created
 * atomically, holding the owner's pid). A lock whose owner process is gone is taken over, so a killed
 * build never blocks the next one. Callers in one process queue without polling.
 */
export function withDirLock<T>(path: string, fn: () => Promise<T>, o: CallOptions = {}): Promise<T> {
  const before = inProcess.get(path) ?? Promise.resolve();
  const run = before.then(
    () => holdLock(path, fn, o),
    () => holdLock(path, fn, o),
  );
  inProcess.set(
    path,
    run.catch(() => {}),
  );
  return run;
}

async function holdLock<T>(path: string, fn: () => Promise<T>, o: CallOptions): Promise<T> {
  const lock = `${path}.lock`;
  await mkdir(join(lock, ".."), { recursive: true });
  for (;;) {
    if (o.signal?.aborted)
      throw new KilnError("CANCELED", "canceled while waiting for a lock", { cause: o.signal.reason });
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (await isStale(lock)) await rm(lock, { recursive: true, force: true });
    else await sleep(50 + Math.random() * 50);
  }
  try {
    await writeFile(join(lock, "owner"), String(process.pid));
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function isStale(lock: string): Promise<boolean> {
  const owner = await readFile(join(lock, "owner"), "utf8").catch(() => undefined);
  if (owner === undefined) {
    // Created but not yet claimed: stale only when that has lasted far longer than a claim takes.
    const st = await stat(lock).catch(() => undefined);
    return st !== undefined && Date.now() - st.mtimeMs > STALE_WITHOUT_OWNER_MS;
  }
  const pid = Number(owner);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}
