/**
 * Slash-path helpers with Go's `path` package semantics (Clean, Join, Base, Split), because BuildKit's
 * observable behaviour (which name a copy lands under, which prefix a wildcard is resolved from)
 * follows them, and Node's `path.posix` differs on trailing slashes and empty strings.
 */

/** Go `path.Clean`: lexical `.`/`..` removal, no trailing slash, `""` → `"."`. */
export function goClean(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const body = out.join("/");
  return rooted ? `/${body}` : body || ".";
}

/** Go `path.Join`: joins the non-empty elements and cleans; `""` when all are empty. */
export function goJoin(...parts: string[]): string {
  const kept = parts.filter((p) => p !== "");
  return kept.length === 0 ? "" : goClean(kept.join("/"));
}

/** Go `path.Base`: last element after dropping trailing slashes; `""` → `"."`, all slashes → `"/"`. */
export function goBase(p: string): string {
  if (p === "") return ".";
  const trimmed = p.replace(/\/+$/, "");
  if (trimmed === "") return "/";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Go `path.Split`: `[dir-with-trailing-slash, file]`. */
export function goSplit(p: string): [string, string] {
  const i = p.lastIndexOf("/");
  return [p.slice(0, i + 1), p.slice(i + 1)];
}

/** An absolute clean path (`/a/b`), `/` for the root. */
export function absPath(p: string): string {
  return goJoin("/", p);
}

/**
 * BuildKit's FileOp path normalisation: absolute and clean, but a trailing `/` or `/.` is kept because it
 * changes where a copy lands (`COPY a /dir/` copies into `dir`).
 */
export function cleanActionPath(s: string): string {
  let out = absPath(s);
  if (s.endsWith("/.")) {
    if (out !== "/") out += "/";
    out += ".";
  } else if (s.endsWith("/") && out !== "/") {
    out += "/";
  }
  return out;
}

/** Components of a path without empty and `.` parts (`..` kept for the caller). */
export function splitComponents(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/** True when a path component holds `*`, `?` or `[` that is not escaped with `\`. */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === "\\") i++;
    else if (ch === "*" || ch === "?" || ch === "[") return true;
  }
  return false;
}

/**
 * Splits a path at its first component with a wildcard: `/x/d?/f` → `["/x", "d?/f"]`. The first part is
 * resolved like a normal path (symlinks followed), the second matched against entries below it.
 */
export function splitWildcards(p: string): [string, string] {
  const head: string[] = [];
  const tail: string[] = [];
  let found = false;
  for (let part of goJoin(p).split("/")) {
    if (!found && containsWildcards(part)) found = true;
    if (part === "") part = "/";
    (found ? tail : head).push(part);
  }
  return [goJoin(...head), goJoin(...tail)];
}

/** Sorts names by their UTF-8 bytes, the order Go (and BuildKit's radix tree) uses. */
export function sortByteOrder(names: string[]): string[] {
  if (names.every(isAscii)) return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
