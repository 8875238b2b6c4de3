import { KilnError } from "@kiln/core";

/**
 * Go `path.Match` semantics: `*` matches any run of non-`/` characters, `?` one non-`/` character,
 * `[...]` a class (`^` negates, `a-z` ranges), `\` escapes. The whole name must match. A malformed
 * pattern throws INVALID_ARGUMENT (Go's ErrBadPattern), also when the name stops matching before the
 * bad part, as Go checks the rest of the pattern in that case.
 */
export function pathMatch(pattern: string, name: string): boolean {
  let pat = Array.from(pattern);
  let str = Array.from(name);
  outer: while (pat.length > 0) {
    const { star, chunk, rest } = scanChunk(pat);
    pat = rest;
    if (star && chunk.length === 0) return !str.includes("/");
    const first = matchChunk(chunk, str);
    if (first !== undefined && (first.length === 0 || pat.length > 0)) {
      str = first;
      continue;
    }
    if (star) {
      for (let i = 0; i < str.length && str[i] !== "/"; i++) {
        const t = matchChunk(chunk, str.slice(i + 1));
        if (t !== undefined) {
          if (pat.length === 0 && t.length > 0) continue;
          str = t;
          continue outer;
        }
      }
    }
    while (pat.length > 0) {
      const next = scanChunk(pat);
      pat = next.rest;
      matchChunk(next.chunk, []);
    }
    return false;
  }
  return str.length === 0;
}

/** Throws INVALID_ARGUMENT when `pattern` is not a valid `path.Match` pattern. */
export function validatePattern(pattern: string): void {
  pathMatch(pattern, ".");
}

function badPattern(): KilnError {
  return new KilnError("INVALID_ARGUMENT", "syntax error in pattern");
}

function scanChunk(pat: string[]): { star: boolean; chunk: string[]; rest: string[] } {
  let star = false;
  let start = 0;
  while (start < pat.length && pat[start] === "*") {
    start++;
    star = true;
  }
  let inRange = false;
  let i = start;
  scan: for (; i < pat.length; i++) {
    switch (pat[i]) {
      case "\\":
        if (i + 1 < pat.length) i++;
        break;
      case "[":
        inRange = true;
        break;
      case "]":
        inRange = false;
        break;
      case "*":
        if (!inRange) break scan;
        break;
    }
  }
  return { star, chunk: pat.slice(start, i), rest: pat.slice(i) };
}

/** The rest of `s` after matching `chunk` at its start, or undefined; throws on a malformed chunk. */
function matchChunk(chunk: string[], s: string[]): string[] | undefined {
  let failed = false;
  let c = 0;
  let si = 0;
  while (c < chunk.length) {
    if (!failed && si >= s.length) failed = true;
    const ch = chunk[c];
    if (ch === "[") {
      const r = failed ? "" : (s[si++] as string);
      c++;
      let negated = false;
      if (chunk[c] === "^") {
        negated = true;
        c++;
      }
      let matched = false;
      let ranges = 0;
      for (;;) {
        if (c < chunk.length && chunk[c] === "]" && ranges > 0) {
          c++;
          break;
        }
        const lo = getEsc(chunk, c);
        c = lo.next;
        let hi = lo.ch;
        if (chunk[c] === "-") {
          const h = getEsc(chunk, c + 1);
          hi = h.ch;
          c = h.next;
        }
        if (!failed && (lo.ch.codePointAt(0) ?? 0) <= (r.codePointAt(0) ?? 0)) {
          if ((r.codePointAt(0) ?? 0) <= (hi.codePointAt(0) ?? 0)) matched = true;
        }
        ranges++;
      }
      if (matched === negated) failed = true;
    } else if (ch === "?") {
      if (!failed) {
        if (s[si] === "/") failed = true;
        si++;
      }
      c++;
    } else {
      if (ch === "\\") {
        c++;
        if (c >= chunk.length) throw badPattern();
      }
      if (!failed) {
        if (chunk[c] !== s[si]) failed = true;
        si++;
      }
      c++;
    }
  }
  return failed ? undefined : s.slice(si);
}

function getEsc(chunk: string[], at: number): { ch: string; next: number } {
  let i = at;
  if (i >= chunk.length || chunk[i] === "-" || chunk[i] === "]") throw badPattern();
  if (chunk[i] === "\\") {
    i++;
    if (i >= chunk.length) throw badPattern();
  }
  const ch = chunk[i] as string;
  i++;
  if (i >= chunk.length) throw badPattern();
  return { ch, next: i };
}
