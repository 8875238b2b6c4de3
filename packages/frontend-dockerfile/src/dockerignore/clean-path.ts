/** Go `path.Clean` (slash-separated, lexical): `a//b/./c/..` → `a/b`, `` → `.`, `/..` → `/`. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const joined = (rooted ? "/" : "") + out.join("/");
  return joined === "" ? "." : joined;
}

/** Go `path.Dir`: everything before the last slash, cleaned; `.` when there is none. */
export function dirPath(p: string): string {
  const slash = p.lastIndexOf("/");
  return cleanPath(slash < 0 ? "" : p.slice(0, slash + 1));
}
