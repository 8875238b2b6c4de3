/**
 * Shell glob patterns used by `${x#pat}`, `${x%pat}` and `${x/pat/repl}`. BuildKit turns them into
 * Go regular expressions; `goSource` keeps that exact Go regexp text (the conformance data checks
 * it) while `regex` is the equivalent JavaScript expression that is actually executed.
 */

export class PatternError extends Error {}

export interface ShellPattern {
  /** The regular expression as BuildKit would write it for Go's `regexp` package. */
  readonly goSource: string;
  /** JavaScript equivalent (`u` flag so `?` consumes one code point, like Go's rune-based `.`). */
  readonly regex: RegExp;
}

// Characters that are literal in shell patterns but special in regular expressions.
const REGEX_SPECIAL = new Set(["[", "]", "{", "}", ".", "+", "(", ")", "|", "^", "$"]);

/**
 * Converts a shell pattern: `*` any run, `?` one character, `\*` `\?` `\\` literals, `\}` and `\/`
 * stand for `}` and `/` (they had to be escaped inside `${...}`), any other escape is an error.
 */
export function convertShellPatternToRegex(
  pattern: string,
  greedy: boolean,
  anchored: boolean,
): ShellPattern {
  const chars = Array.from(pattern);
  let go = anchored ? "^" : "";
  let js = go;
  // Go's `.` never matches a newline; `[^\n]` keeps that in JavaScript.
  const star = greedy ? [".*", "[^\\n]*"] : [".*?", "[^\\n]*?"];
  for (let i = 0; i < chars.length; i++) {
    let ch = chars[i] as string;
    if (ch === "*") {
      go += star[0];
      js += star[1];
      continue;
    }
    if (ch === "?") {
      go += ".";
      js += "[^\\n]";
      continue;
    }
    if (ch === "\\") {
      const peek = chars[i + 1];
      if (peek === "}" || peek === "/") continue;
      go += "\\";
      js += "\\";
      i++;
      ch = chars[i] ?? "\uFFFD";
      if (ch !== "*" && ch !== "?" && ch !== "\\") throw new PatternError(`invalid escape '\\${ch}'`);
    } else if (REGEX_SPECIAL.has(ch)) {
      go += "\\";
      js += "\\";
    }
    go += ch;
    js += ch;
  }
  return { goSource: go, regex: new RegExp(js, "u") };
}

/** Reverses a pattern while keeping `\x` escape pairs in order, so suffixes can be matched as prefixes. */
export function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const out: string[] = new Array(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = runes[i] as string;
    const outIdx = last - i;
    if (tok === "\\" && i !== last) {
      out[outIdx - 1] = tok;
      out[outIdx] = runes[i + 1] as string;
      i += 2;
    } else {
      out[outIdx] = tok;
      i++;
    }
  }
  return out.join("");
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join("");
}

function compile(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  try {
    return convertShellPatternToRegex(pattern, greedy, anchored).regex;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new PatternError(`invalid pattern (${pattern}) in substitution: ${reason}`);
  }
}

/** `${value#pattern}` (shortest) / `${value##pattern}` (greedy). */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = compile(pattern, greedy, true).exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/** `${value%pattern}` / `${value%%pattern}`: regexps cannot anchor suffixes lazily, so reverse both. */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

/** `${value/pattern/replacement}` and `${value//pattern/replacement}` with Go `regexp` semantics. */
export function replacePattern(pattern: string, value: string, replacement: string, all: boolean): string {
  const re = compile(pattern, true, false);
  if (!all) {
    // Go splices the replacement in literally for the single-replacement form.
    const m = re.exec(value);
    return m ? value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length) : value;
  }
  return goReplaceAll(new RegExp(re.source, "gu"), value, replacement);
}

/**
 * Go's `Regexp.ReplaceAllString`: unlike `String.prototype.replace`, an empty match right after a
 * previous match is not replaced, and the replacement is a Go template (`$0`, `${name}`, `$$`).
 */
function goReplaceAll(re: RegExp, src: string, template: string): string {
  let out = "";
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    re.lastIndex = searchPos;
    const m = re.exec(src);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += src.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandGoTemplate(template, m[0]);
    lastMatchEnd = end;
    const width = (src.codePointAt(searchPos) ?? 0) > 0xffff ? 2 : 1;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + src.slice(lastMatchEnd);
}

const NAME_CHAR = /^[\p{L}\p{Nd}_]$/u;

/** Go `Regexp.Expand` for a pattern without capture groups: only `$0` refers to anything. */
function expandGoTemplate(template: string, match: string): string {
  let out = "";
  let rest = template;
  for (;;) {
    const dollar = rest.indexOf("$");
    if (dollar < 0) break;
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith("$")) {
      out += "$";
      rest = rest.slice(1);
      continue;
    }
    const ref = extractTemplateName(rest);
    if (!ref) {
      out += "$";
      continue;
    }
    rest = ref.rest;
    if (/^\d+$/.test(ref.name) && Number(ref.name) === 0) out += match;
  }
  return out + rest;
}

function extractTemplateName(s: string): { name: string; rest: string } | undefined {
  const braced = s.startsWith("{");
  const chars = Array.from(braced ? s.slice(1) : s);
  let name = "";
  for (const ch of chars) {
    if (!NAME_CHAR.test(ch)) break;
    name += ch;
  }
  if (name === "") return undefined;
  if (!braced) return { name, rest: s.slice(name.length) };
  if (s[1 + name.length] !== "}") return undefined;
  return { name, rest: s.slice(name.length + 2) };
}
