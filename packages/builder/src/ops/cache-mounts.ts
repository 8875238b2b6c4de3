import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type CallOptions, sha256, throwIfAborted } from "@kiln/core";

/**
 * RUN --mount=type=cache directories: kept in the store across builds, never part of an image.
 * `shared` lets every user in at once; `locked` serialises users, also across kiln processes (a lock
 * file created with O_EXCL, polled like BuildKit does); `private` gives a concurrent user its own
 * throw-away directory instead of waiting.
 */
export interface CacheMountLease {
  readonly path: string;
  /** A `private` user's own directory while the cache is busy: empty, and deleted on release. */
  readonly throwaway?: boolean;
  release(): Promise<void>;
}

export type CacheSharing = "shared" | "private" | "locked";

const POLL_MS = 100;
const inUse = new Map<string, number>();

export async function acquireCacheMount(
  storeRoot: string,
  id: string,
  sharing: CacheSharing,
  o: CallOptions = {},
): Promise<{ lease: CacheMountLease; created: boolean }> {
  const base = join(storeRoot, "cache-mounts");
  const name = sha256(id).slice(7, 39);
  const path = join(base, name);
  const created = await mkdir(path, { recursive: true }).then((made) => made !== undefined);
  if (sharing === "private" && (inUse.get(path) ?? 0) > 0) {
    const own = join(base, `private-${process.pid}-${randomUUID()}`);
    await mkdir(own, { recursive: true });
    return {
      lease: { path: own, throwaway: true, release: () => rm(own, { recursive: true, force: true }) },
      created: true,
    };
  }
  const unlock = sharing === "locked" ? await lock(`${path}.lock`, o) : async () => {};
  inUse.set(path, (inUse.get(path) ?? 0) + 1);
  return {
    created,
    lease: {
      path,
      async release() {
        inUse.set(path, (inUse.get(path) ?? 1) - 1);
        await unlock();
      },
    },
  };
}

async function lock(file: string, o: CallOptions): Promise<() => Promise<void>> {
  for (;;) {
    throwIfAborted(o.signal);
    try {
      const handle = await open(file, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => unlink(file).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      // A lock left by a killed process would block forever: take it over when its owner is gone.
      const owner = Number(await readFile(file, "utf8").catch(() => ""));
      if (owner && !alive(owner)) await unlink(file).catch(() => {});
      else await sleep(POLL_MS, undefined, o.signal ? { signal: o.signal } : {}).catch(() => {});
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
