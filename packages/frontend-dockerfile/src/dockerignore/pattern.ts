/**
 * One ignore pattern (moby/patternmatcher semantics): Go `filepath.Match` syntax (`*` and `?` stop
 * at `/`, `[...]` classes, `\` escapes) plus `**` for any number of directories. Like the Go code,
 * simple shapes skip regular expressions: `**` prefix → suffix test, `/**` suffix → prefix test.
 */
import { KilnError } from "@kiln/core";

export type PatternKind = "exact" | "prefix" | "suffix" | "regexp";

export interface IgnorePattern {
  /** Cleaned pattern text without the `!`. */
  readonly text: string;
  /** `!pattern`: re-includes what earlier patterns excluded. */
  readonly exclusion: boolean;
  readonly kind: PatternKind;
  matches(path: string): boolean;
}

// Regexp metacharacters that are plain characters in filepath.Match syntax.
const LITERAL_META = new Set([".", "+", "(", ")", "|", "{", "}", "$"]);

const badPattern = (pattern: string): never => {
  throw new KilnError(
    "INVALID_ARGUMENT",
    `invalid ignore pattern ${JSON.stringify(pattern)}: syntax error in pattern`,
  );
};

/** A code-point escape is valid anywhere in a `u` regexp, including inside classes. */
function codePointEscape(ch: string): string {
  return `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`;
}

function literal(ch: string): string {
  return /^[\p{L}\p{N}_/ -]$/u.test(ch) ? ch : codePointEscape(ch);
}

/**
 * Translates a `[...]` class starting at `pos` (just after `[`) with filepath.Match's rules: optional
 * `^`, at least one item, items are a char or `\c`, optionally `-` and a range end; `-` and `]`
 * cannot start an item. Returns the JavaScript class and the position after `]`.
 */
function translateClass(chars: readonly string[], start: number, pattern: string): [string, number] {
  let pos = start;
  let out = "[";
  if (chars[pos] === "^") {
    out += "^";
    pos++;
  }
  const item = (): string => {
    let ch = chars[pos];
    if (ch === undefined || ch === "-" || ch === "]") return badPattern(pattern);
    if (ch === "\\") {
      pos++;
      ch = chars[pos];
      if (ch === undefined) return badPattern(pattern);
    }
    pos++;
    if (pos >= chars.length) badPattern(pattern); // the class is never closed
    return codePointEscape(ch);
  };
  for (let n = 0; ; n++) {
    if (chars[pos] === "]" && n > 0) return [`${out}]`, pos + 1];
    out += item();
    if (chars[pos] === "-") {
      pos++;
      out += `-${item()}`;
    }
  }
}

export function compilePattern(raw: string, exclusion: boolean): IgnorePattern {
  const chars = Array.from(raw);
  let re = "^";
  let kind: PatternKind = "exact";
  for (let pos = 0; pos < chars.length; ) {
    const atStart = pos === 0;
    const ch = chars[pos++] as string;
    if (ch === "*") {
      if (chars[pos] !== "*") {
        re += "[^/]*";
        kind = "regexp";
        continue;
      }
      pos++;
      if (chars[pos] === "/") pos++;
      if (pos >= chars.length) {
        if (kind === "exact") kind = "prefix";
        else {
          re += "[^\\n]*";
          kind = "regexp";
        }
      } else {
        re += "(?:[^\\n]*/)?";
        kind = "regexp";
      }
      if (atStart) kind = "suffix";
    } else if (ch === "?") {
      re += "[^/]";
      kind = "regexp";
    } else if (ch === "\\") {
      // filepath.Match: the next character is literal (a trailing `\` is a syntax error).
      const next = chars[pos++];
      if (next === undefined) badPattern(raw);
      re += literal(next as string);
      kind = "regexp";
    } else if (ch === "[") {
      const [cls, end] = translateClass(chars, pos, raw);
      re += cls;
      pos = end;
      kind = "regexp";
    } else if (ch === "]") {
      re += "\\]";
      kind = "regexp";
    } else if (ch === "^") {
      re += "^"; // passed through unescaped by the Go implementation: an anchor that cannot match here
    } else {
      re += LITERAL_META.has(ch) ? `\\${ch}` : literal(ch);
    }
  }

  if (kind === "exact") return { text: raw, exclusion, kind, matches: (p) => p === raw };
  if (kind === "prefix") {
    const prefix = raw.slice(0, -2);
    return { text: raw, exclusion, kind, matches: (p) => p.startsWith(prefix) };
  }
  if (kind === "suffix") {
    const suffix = raw.slice(2);
    return {
      text: raw,
      exclusion,
      kind,
      matches: (p) => p.endsWith(suffix) || (suffix.startsWith("/") && p === suffix.slice(1)),
    };
  }
  const regex = new RegExp(`${re}$`, "u");
  return { text: raw, exclusion, kind, matches: (p) => regex.test(p) };
}
