import { KilnError } from "@kiln/core";
import { validatePattern } from "./match.js";
import { goClean } from "./paths.js";

/**
 * Docker's include/exclude pattern language (moby/patternmatcher semantics, as used by `.dockerignore`,
 * `COPY --exclude` and LLB copy include/exclude patterns): `path.Match` syntax plus `**` for any number
 * of directories, patterns anchored at the root of the walk, `!` re-includes, the last matching pattern
 * wins, and a pattern matching a directory matches everything below it.
 */
export interface PatternMatcher {
  /** True when some pattern is a `!` exception (excluded directories must still be walked). */
  readonly exclusions: boolean;
  /**
   * Matches a slash path relative to the walk root. `parent` is the info returned for the parent
   * directory; without it every ancestor is checked, which is slower but equivalent.
   */
  matches(file: string, parent?: MatchInfo): { matched: boolean; info: MatchInfo };
}

/** Per-pattern "an ancestor already matched" flags, threaded through a walk. */
export type MatchInfo = readonly boolean[];

type Kind = "exact" | "prefix" | "suffix" | "regexp";

interface Pattern {
  readonly exclusion: boolean;
  readonly text: string;
  readonly kind: Kind;
  readonly re: RegExp | undefined;
}

/** Compiles patterns; INVALID_ARGUMENT for a malformed one. Empty/whitespace patterns are ignored. */
export function createPatternMatcher(patterns: readonly string[]): PatternMatcher {
  const compiled: Pattern[] = [];
  for (const raw of patterns) {
    let p = raw.trim();
    if (p === "") continue;
    p = goClean(p);
    let exclusion = false;
    if (p.startsWith("!")) {
      if (p.length === 1) throw new KilnError("INVALID_ARGUMENT", 'illegal exclusion pattern: "!"');
      exclusion = true;
      p = p.slice(1);
    }
    try {
      validatePattern(p);
    } catch (err) {
      throw new KilnError("INVALID_ARGUMENT", `invalid pattern ${JSON.stringify(raw)}: syntax error`, {
        cause: err,
      });
    }
    compiled.push({ exclusion, text: p, ...compile(p) });
  }
  const exclusions = compiled.some((p) => p.exclusion);
  return {
    exclusions,
    matches(file, parent) {
      const info: boolean[] = new Array(compiled.length).fill(false);
      let matched = false;
      const useParent = parent !== undefined && parent.length === compiled.length;
      compiled.forEach((pattern, i) => {
        let match = useParent ? (parent[i] ?? false) : false;
        if (!match) {
          // An inclusion cannot change an already matched result, nor an exclusion an unmatched one.
          if (pattern.exclusion !== matched) return;
          match = matchOne(pattern, file);
          if (!match && !useParent) match = ancestorMatches(pattern, file);
        }
        info[i] = match;
        if (match) matched = !pattern.exclusion;
      });
      return { matched, info };
    },
  };
}

function ancestorMatches(pattern: Pattern, file: string): boolean {
  const dirs = file.split("/");
  dirs.pop();
  for (let i = 1; i <= dirs.length; i++) {
    if (matchOne(pattern, dirs.slice(0, i).join("/"))) return true;
  }
  return false;
}

function matchOne(p: Pattern, path: string): boolean {
  switch (p.kind) {
    case "exact":
      return path === p.text;
    case "prefix":
      return path.startsWith(p.text.slice(0, -2));
    case "suffix": {
      const suffix = p.text.slice(2);
      return path.endsWith(suffix) || (suffix.startsWith("/") && path === suffix.slice(1));
    }
    case "regexp":
      return p.re?.test(path) ?? false;
  }
}

const REGEXP_SPECIAL = new Set([".", "+", "(", ")", "|", "{", "}", "$"]);

/** Translates a pattern to its match kind (and a regexp when needed), mirroring Docker's compiler. */
function compile(pattern: string): { kind: Kind; re: RegExp | undefined } {
  let re = "^";
  let kind: Kind = "exact";
  const chars = Array.from(pattern);
  for (let i = 0, n = 0; i < chars.length; i++, n++) {
    const ch = chars[i] as string;
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        i++;
        if (chars[i + 1] === "/") i++; // `**/` behaves as `**`
        if (i + 1 >= chars.length) {
          if (kind === "exact") kind = "prefix";
          else {
            re += ".*";
            kind = "regexp";
          }
        } else {
          re += "(.*/)?";
          kind = "regexp";
        }
        if (n === 0) kind = "suffix";
      } else {
        re += "[^/]*";
        kind = "regexp";
      }
    } else if (ch === "?") {
      re += "[^/]";
      kind = "regexp";
    } else if (REGEXP_SPECIAL.has(ch)) {
      re += `\\${ch}`;
    } else if (ch === "\\") {
      const next = chars[i + 1];
      if (next !== undefined) {
        re += /[\w]/.test(next) ? next : `\\${next}`;
        i++;
        kind = "regexp";
      } else {
        re += "\\\\";
      }
    } else if (ch === "[" || ch === "]") {
      re += ch;
      kind = "regexp";
    } else {
      re += ch === "^" ? "\\^" : ch;
    }
  }
  if (kind !== "regexp") return { kind, re: undefined };
  try {
    return { kind, re: new RegExp(`${re}$`) };
  } catch (err) {
    throw new KilnError("INVALID_ARGUMENT", `invalid pattern ${JSON.stringify(pattern)}`, { cause: err });
  }
}
