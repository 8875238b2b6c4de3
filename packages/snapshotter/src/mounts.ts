import { mkdir, mkdtemp, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { type CallOptions, KilnError, type Mount, throwIfAborted } from "@kiln/core";
import {
  clearVolatileMarker,
  mountOverlay,
  mountTargetPrefix,
  unmount,
  volatileMarker,
} from "./mount-exec.js";

/** A host path where a snapshot's tree can be read (and written, unless `readOnly`). */
export interface MountedPath {
  readonly path: string;
  readonly readOnly: boolean;
  /** Undoes whatever was needed to expose `path` (an unmount for overlay); idempotent. */
  release(): Promise<void>;
}

/**
 * Turns the mounts returned by a snapshotter into a host path.
 *
 * A single bind mount needs no syscall: its source already is the tree (read-only by contract only).
 * A single overlay mount is mounted on a fresh directory: under the `mnt/` directory of the overlay
 * snapshotter that owns its layers (so a later open of that root can clean up after a killed
 * process), else under `$TMPDIR/kiln-mounts`. `release` unmounts it and removes the directory.
 */
export async function mountedPath(mounts: readonly Mount[], o: CallOptions = {}): Promise<MountedPath> {
  throwIfAborted(o.signal);
  const [only] = mounts;
  if (mounts.length === 1 && only !== undefined && only.type === "bind") {
    return { path: only.source, readOnly: only.options.includes("ro"), release: async () => {} };
  }
  if (mounts.length === 1 && only !== undefined && only.type === "overlay") return mountOverlayMount(only, o);
  const shape = mounts.map((m) => m.type).join(",") || "none";
  throw new KilnError("NOT_IMPLEMENTED", `mounting ${shape} mounts is not implemented`, {
    hint: "mountedPath handles a single bind or a single overlay mount",
    details: { mounts },
  });
}

/** Whether the kernel took `volatile` (5.10+); after one refusal it is no longer asked for. */
let volatileAccepted = true;

async function mountOverlayMount(mount: Mount, o: CallOptions): Promise<MountedPath> {
  const layers = parseOverlayOptions(mount.options);
  const { workdir } = layers;
  const writable = layers.upperdir !== undefined && workdir !== undefined && !mount.options.includes("ro");
  if (writable) await clearVolatileMarker(workdir);
  const parent = mountDirFor(layers);
  await mkdir(parent, { recursive: true, mode: 0o700 });
  const target = await mkdtemp(join(parent, mountTargetPrefix()));
  try {
    let mounted = false;
    if (writable && volatileAccepted) {
      const { data, cwd } = overlayMountData([...mount.options, "volatile"]);
      mounted = await mountOverlay(data, target, cwd).then(
        () => true,
        () => false,
      );
    }
    if (!mounted) {
      const { data, cwd } = overlayMountData(mount.options);
      await mountOverlay(data, target, cwd);
      if (writable) volatileAccepted = false; // only the volatile attempt failed
    }
  } catch (err) {
    await rmdir(target).catch(() => {});
    throw err;
  }
  let releasing: Promise<void> | undefined;
  const release = () => {
    releasing ??= unmount(target)
      .then(() => rmdir(target))
      .then(() => (writable ? rm(volatileMarker(workdir), { recursive: true, force: true }) : undefined))
      .catch((err: unknown) => {
        releasing = undefined; // let a later call try again
        throw err;
      });
    return releasing;
  };
  if (o.signal?.aborted) {
    await release();
    throwIfAborted(o.signal);
  }
  const readOnly = layers.upperdir === undefined || mount.options.includes("ro");
  return { path: target, readOnly, release };
}

/** The layer directories of an overlay mount's options. */
export interface OverlayLayers {
  /** Topmost first, as in `lowerdir=`. */
  readonly lowerdirs: readonly string[];
  readonly upperdir?: string;
  readonly workdir?: string;
}

export function parseOverlayOptions(options: readonly string[]): OverlayLayers {
  const value = (key: string) => options.find((opt) => opt.startsWith(`${key}=`))?.slice(key.length + 1);
  const lower = value("lowerdir");
  const upperdir = value("upperdir");
  const workdir = value("workdir");
  return {
    lowerdirs: lower === undefined ? [] : lower.split(":"),
    ...(upperdir === undefined ? {} : { upperdir }),
    ...(workdir === undefined ? {} : { workdir }),
  };
}

/** The kernel copies mount data into one page: 4096 bytes including the final NUL. */
export const MAX_MOUNT_DATA = 4095;

/**
 * The data string for the mount syscall. When the options with absolute lowerdirs exceed a page,
 * the lowerdirs are made relative to their common parent directory and the mount is issued from
 * there (overlay resolves lowerdirs against the caller's working directory). The overlay snapshotter
 * keeps all layers as short links in one directory (`<root>/l/<11 chars>`), so this fits about 300
 * layers; longer chains are refused.
 */
export function overlayMountData(options: readonly string[]): { data: string; cwd?: string } {
  const data = options.join(",");
  if (Buffer.byteLength(data) <= MAX_MOUNT_DATA) return { data };
  const { lowerdirs } = parseOverlayOptions(options);
  const cwd = commonDir(lowerdirs);
  if (cwd !== undefined) {
    const lowerdir = `lowerdir=${lowerdirs.map((dir) => relative(cwd, dir)).join(":")}`;
    const short = options.map((opt) => (opt.startsWith("lowerdir=") ? lowerdir : opt)).join(",");
    if (Buffer.byteLength(short) <= MAX_MOUNT_DATA) return { data: short, cwd };
  }
  throw new KilnError("INVALID_ARGUMENT", `overlay mount options exceed ${MAX_MOUNT_DATA} bytes`, {
    hint: `${lowerdirs.length} layers are too many to mount; squash some of them`,
    details: { layers: lowerdirs.length, bytes: Buffer.byteLength(data) },
  });
}

/** The deepest directory containing all of `paths` (absolute), or undefined if there is none. */
function commonDir(paths: readonly string[]): string | undefined {
  const [first, ...rest] = paths;
  if (first === undefined || !first.startsWith(sep)) return undefined;
  let dir = dirname(first);
  for (const path of rest) {
    if (!path.startsWith(sep)) return undefined;
    while (!path.startsWith(dir === sep ? sep : `${dir}${sep}`)) dir = dirname(dir);
  }
  return dir;
}

/** Snapshotter roots (real paths) → their mount directories, with the number of open instances. */
const mountDirs = new Map<string, { readonly dir: string; refs: number }>();

/**
 * Makes `mountedPath` put mounts of layers under `root` into `dir`; returns the undo (by reference
 * count, since several instances may share one root).
 */
export function registerMountDir(root: string, dir: string): () => void {
  const entry = mountDirs.get(root) ?? { dir, refs: 0 };
  entry.refs++;
  mountDirs.set(root, entry);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--entry.refs === 0) mountDirs.delete(root);
  };
}

function mountDirFor(layers: OverlayLayers): string {
  const paths = [...(layers.upperdir === undefined ? [] : [layers.upperdir]), ...layers.lowerdirs];
  for (const [root, { dir }] of mountDirs) {
    if (paths.some((p) => p.startsWith(`${root}${sep}`))) return dir;
  }
  return join(tmpdir(), "kiln-mounts");
}
