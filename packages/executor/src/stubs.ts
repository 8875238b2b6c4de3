import { lstat, rmdir, stat, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import { resolveInContainer, splitPath } from "./safe-path.js";

/** Paths the runtime will create in the rootfs only to have somewhere to mount. */
export interface MountStub {
  /** Host paths from the first missing component down to the mount point itself. */
  readonly chain: readonly string[];
  /** The existing directory the stub is created in, and its times before the run. */
  readonly parent: string;
  readonly atime: Date;
  readonly mtime: Date;
}

/**
 * Records, before the run, which mount destinations do not exist in the rootfs yet. The runtime
 * creates them (an empty directory or file per mount point, plus missing parents); `removeMountStubs`
 * deletes them afterwards so they do not end up in the committed layer. Destinations nested in
 * another mount (e.g. /dev/pts in /dev) are created in that mount, not in the rootfs, and are skipped.
 */
export async function recordMountStubs(rootfs: string, dests: readonly string[]): Promise<MountStub[]> {
  const topLevel = dests.filter((d) => !dests.some((o) => o !== d && (o === "/" || d.startsWith(`${o}/`))));
  const stubs: MountStub[] = [];
  for (const dest of new Set(topLevel)) {
    const resolved = await resolveInContainer({ rootfs, mounts: [] }, dest, { refuseRuntimeTrees: false });
    const components = splitPath(resolved.path);
    for (let i = 1; i <= components.length; i++) {
      const host = join(rootfs, ...components.slice(0, i));
      if (await exists(host)) continue;
      const parent = join(rootfs, ...components.slice(0, i - 1));
      const times = await stat(parent);
      const chain = components.slice(i - 1).map((_, k) => join(rootfs, ...components.slice(0, i + k)));
      stubs.push({ chain, parent, atime: times.atime, mtime: times.mtime });
      break;
    }
  }
  return stubs;
}

/**
 * Removes the stubs that are still empty placeholders, deepest first, stopping at the first one the
 * process put content in. When a whole chain is gone, the parent's times are restored so the
 * directory does not show up as modified in the layer diff.
 */
export async function removeMountStubs(stubs: readonly MountStub[]): Promise<void> {
  for (const stub of stubs) {
    let all = true;
    for (const host of [...stub.chain].reverse()) {
      if (!(await removeIfEmpty(host))) {
        all = false;
        break;
      }
    }
    if (all) await utimes(stub.parent, stub.atime, stub.mtime).catch(() => {});
  }
}

async function removeIfEmpty(host: string): Promise<boolean> {
  const st = await lstat(host).catch(() => undefined);
  if (!st) return true;
  try {
    if (st.isDirectory()) await rmdir(host);
    else if (st.isFile() && st.size === 0) await unlink(host);
    else return false;
    return true;
  } catch {
    // ENOTEMPTY: the process wrote there, so it is content, not a stub.
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
