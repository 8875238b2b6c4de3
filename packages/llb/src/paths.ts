import { posix } from "node:path";

/** Go's `path.Clean`: like posix normalize, but without a trailing slash (except for "/"). */
export function cleanPath(p: string): string {
  const out = posix.normalize(p);
  return out.length > 1 && out.endsWith("/") ? out.slice(0, -1) : out;
}

/** Go's `path.Join`: joins the non-empty elements and cleans the result; "" when all are empty. */
export function joinPath(...elems: string[]): string {
  const parts = elems.filter((e) => e !== "");
  return parts.length === 0 ? "" : cleanPath(parts.join("/"));
}

/** A state's working directory after `dir(value)`: absolute values are kept, relative ones join. */
export function resolveDir(current: string, value: string): string {
  if (value.startsWith("/")) return value;
  return joinPath(current || "/", value);
}

/**
 * A file-action path: cleaned, made absolute against the state's directory; for destinations a
 * trailing "/" or "/." of the original is kept because it changes how copies land.
 */
export function normalizeActionPath(parent: string, p: string, keepSlash: boolean): string {
  let out = cleanPath(p);
  if (!out.startsWith("/")) out = joinPath("/", parent, out);
  if (keepSlash) {
    if (p.endsWith("/") && !out.endsWith("/")) out += "/";
    else if (p.endsWith("/.")) {
      if (out !== "/") out += "/";
      out += ".";
    }
  }
  return out;
}
