import { lstat, readlink } from "node:fs/promises";
import { join } from "node:path";
import { KilnError } from "@kiln/core";
import { isMissing } from "./fs-errors.js";

/** Linux gives up after 40 links in one lookup; a layer gets the same budget. */
const MAX_SYMLINKS = 40;

/**
 * Resolves `path` inside `root` the way a process chrooted to `root` would see it: every component
 * that is a symlink is followed, absolute targets start again at `root`, and `..` never climbs above
 * `root`. The result is a host path that is `root` or below it, whatever the tree contains. Components
 * that do not exist (yet) are appended as they are, so the result can be created afterwards.
 * The final component is followed too; resolve the parent and append the name to avoid that.
 * `root` must be an absolute path without symlinks (use `fs.realpath`).
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  const resolved: string[] = [];
  let pending = splitPath(path);
  let links = 0;
  for (let component = pending.shift(); component !== undefined; component = pending.shift()) {
    if (component === "..") {
      resolved.pop();
      continue;
    }
    const host = join(root, ...resolved, component);
    let isLink = false;
    try {
      isLink = (await lstat(host)).isSymbolicLink();
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    if (!isLink) {
      resolved.push(component);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new KilnError("INVALID_ARGUMENT", `too many levels of symbolic links resolving ${path}`, {
        details: { root },
      });
    }
    const target = await readlink(host);
    if (target.startsWith("/")) resolved.length = 0;
    pending = [...splitPath(target), ...pending];
  }
  return resolved.length === 0 ? root : join(root, ...resolved);
}

/** Path components without empty and `.` parts; `..` is kept for the caller to interpret. */
export function splitPath(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * Cleans a layer entry path into `a/b/c` form (no `./`, no trailing `/`, `..` applied), or throws
 * INVALID_ARGUMENT when it is absolute or climbs above the layer root. `""` is the root itself.
 */
export function cleanLayerPath(name: string, what = "layer entry"): string {
  if (name.startsWith("/")) {
    throw new KilnError("INVALID_ARGUMENT", `${what} ${JSON.stringify(name)} is an absolute path`, {
      hint: "layer entries are relative to the root of the layer",
    });
  }
  const out: string[] = [];
  for (const component of splitPath(name)) {
    if (component !== "..") out.push(component);
    else if (out.pop() === undefined) {
      throw new KilnError("INVALID_ARGUMENT", `${what} ${JSON.stringify(name)} escapes the root`, {
        hint: "the layer is malformed or hostile; it was not applied further",
      });
    }
  }
  return out.join("/");
}
