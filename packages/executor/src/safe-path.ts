import { chown, lstat, mkdir, readFile, readlink } from "node:fs/promises";
import { join, posix } from "node:path";
import { KilnError } from "@kiln/core";

/** Linux gives up after 40 links in one lookup; the resolver uses the same budget. */
const MAX_SYMLINKS = 40;

/**
 * Trees the runtime fills while it starts the container (procfs, sysfs, the /dev tmpfs with its
 * `/dev/fd -> /proc/self/fd` link). Their content is unknown beforehand, and `/proc/self/fd/<n>` can
 * name a file descriptor the runtime leaked from the host (runc CVE-2024-21626), so a working
 * directory must never point into them.
 */
const RUNTIME_TREES: ReadonlySet<string> = new Set(["proc", "sys", "dev"]);

/** A directory or file that will be bind-mounted at `dest` in the container. */
export interface ViewMount {
  /** Clean absolute container path, symlinks already resolved against the rootfs. */
  readonly dest: string;
  /** Host path; symlink-free (realpath) so that host paths built below it stay below it. */
  readonly source: string;
  readonly readonly: boolean;
}

/** The container's file system as it will look once the runtime has mounted everything. */
export interface ContainerView {
  /** Host path of the root file system, symlink-free. */
  readonly rootfs: string;
  /** A read-only rootfs gets no new directories (the working directory must exist). */
  readonly rootReadonly?: boolean;
  /** Sorted so that a mount comes after the mounts it is nested in. */
  readonly mounts: readonly ViewMount[];
}

export interface ResolvedPath {
  /** Clean absolute container path without symlinks. */
  readonly path: string;
  /** Where that path lives on the host (in the rootfs or in a mount's source). */
  readonly host: string;
  /** The mount the path lives in, if any. */
  readonly mount: ViewMount | undefined;
}

export interface ResolveOptions {
  /** Throw INVALID_ARGUMENT for paths in /proc, /sys or /dev (default true). */
  readonly refuseRuntimeTrees?: boolean;
}

export function splitPath(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

/** Host location of a clean container path: inside the innermost mount that covers it, else the rootfs. */
export function hostPathOf(view: ContainerView, components: readonly string[]): ResolvedPath {
  const path = `/${components.join("/")}`;
  let mount: ViewMount | undefined;
  for (const m of view.mounts) {
    if (path === m.dest || path.startsWith(m.dest === "/" ? "/" : `${m.dest}/`)) mount = m;
  }
  if (!mount) return { path, host: join(view.rootfs, ...components), mount };
  const rest = posix.relative(mount.dest, path);
  return { path, host: rest === "" ? mount.source : join(mount.source, ...splitPath(rest)), mount };
}

/**
 * Resolves `path` the way a process chrooted into the container would: every symlink is followed
 * (absolute targets restart at the container root), `..` never climbs above the root, and mounts are
 * crossed into their sources. The host path returned is always inside the rootfs or a mount source.
 * Missing components are kept as they are, so the result can be created afterwards.
 */
export async function resolveInContainer(
  view: ContainerView,
  path: string,
  options: ResolveOptions = {},
): Promise<ResolvedPath> {
  const refuse = options.refuseRuntimeTrees ?? true;
  const resolved: string[] = [];
  let pending = splitPath(path);
  let links = 0;
  for (let component = pending.shift(); component !== undefined; component = pending.shift()) {
    if (component === "..") {
      resolved.pop();
      continue;
    }
    if (resolved.length === 0 && RUNTIME_TREES.has(component)) {
      if (refuse) {
        throw new KilnError(
          "INVALID_ARGUMENT",
          `${JSON.stringify(path)} resolves into /${component}, which the container runtime mounts itself`,
          { hint: "use a working directory outside /proc, /sys and /dev" },
        );
      }
      // Unknown until the runtime runs: keep the rest lexical, it is never looked up on the host.
      return hostPathOf(view, [component, ...lexical(pending)]);
    }
    const host = hostPathOf(view, [...resolved, component]).host;
    const stat = await lstat(host).catch(ignoreMissing);
    if (!stat?.isSymbolicLink()) {
      resolved.push(component);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new KilnError("INVALID_ARGUMENT", `too many levels of symbolic links resolving ${path}`);
    }
    const target = await readlink(host);
    if (target.startsWith("/")) resolved.length = 0;
    pending = [...splitPath(target), ...pending];
  }
  return hostPathOf(view, resolved);
}

function lexical(components: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of components) {
    if (c === "..") out.pop();
    else out.push(c);
  }
  return out;
}

/**
 * Creates the directory `path` inside the container view (like `mkdir -p` in a chroot), owning the
 * directories it creates by `uid:gid`. Returns the symlink-free container path. Nothing is created in
 * a read-only rootfs or mount: the runtime reports a missing working directory there itself.
 */
export async function mkdirInContainer(
  view: ContainerView,
  path: string,
  owner: { readonly uid: number; readonly gid: number },
): Promise<string> {
  const resolved = await resolveInContainer(view, path);
  const components = splitPath(resolved.path);
  for (let i = 1; i <= components.length; i++) {
    const step = hostPathOf(view, components.slice(0, i));
    const stat = await lstat(step.host).catch(ignoreMissing);
    if (stat?.isDirectory()) continue;
    if (stat) {
      throw new KilnError("FAILED_PRECONDITION", `${step.path} exists and is not a directory`, {
        details: { path },
      });
    }
    if (step.mount ? step.mount.readonly : view.rootReadonly) break;
    // The resolved components hold no symlinks and nothing runs in the container yet, so these
    // mkdirs cannot be redirected out of the view.
    await mkdir(step.host, { mode: 0o755 });
    await chown(step.host, owner.uid, owner.gid);
  }
  return resolved.path;
}

/** Reads a regular file inside the container view; `undefined` when missing or not a regular file. */
export async function readFileInContainer(view: ContainerView, path: string): Promise<string | undefined> {
  const resolved = await resolveInContainer(view, path, { refuseRuntimeTrees: false });
  const stat = await lstat(resolved.host).catch(ignoreMissing);
  // Never open FIFOs or devices: a hostile image could make the read block forever.
  if (!stat?.isFile()) return undefined;
  return readFile(resolved.host, "utf8");
}

function ignoreMissing(err: unknown): undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return undefined;
  throw err;
}
