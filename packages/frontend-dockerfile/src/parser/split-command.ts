/**
 * Splits a logical line into keyword, `--flags` and the argument text. Flags are only recognised
 * directly after the keyword; the first word not starting with `--` (or a bare `--`) ends them.
 */
import { isSpace, trimSpace } from "../shell/chars.js";

/** Go `regexp.Split` semantics (n < 0: all), used with BuildKit's `[\t\v\f\r ]+` separator. */
export function goRegexpSplit(s: string, separator: RegExp, n: number): string[] {
  if (n === 0) return [];
  if (s === "") return [""];
  const re = new RegExp(separator.source, "g");
  const out: string[] = [];
  let beg = 0;
  let end = 0;
  for (const m of s.matchAll(re)) {
    if (n > 0 && out.length === n - 1) break;
    end = m.index;
    const matchEnd = m.index + m[0].length;
    if (matchEnd !== 0) out.push(s.slice(beg, end));
    beg = matchEnd;
  }
  if (end !== s.length) out.push(s.slice(beg));
  return out;
}

export const WHITESPACE_RUN = /[\t\v\f\r ]+/;

export interface SplitCommand {
  readonly cmd: string;
  readonly flags: string[];
  readonly args: string;
}

export function splitCommand(line: string, escapeToken: string): SplitCommand {
  const cmdline = goRegexpSplit(trimSpace(line), WHITESPACE_RUN, 2);
  let args = "";
  let flags: string[] = [];
  if (cmdline.length === 2) ({ args, flags } = extractBuilderFlags(cmdline[1] as string, escapeToken));
  return { cmd: cmdline[0] as string, flags, args: trimSpace(args) };
}

/**
 * Reads leading `--name[=value]` words. Quotes group characters and the escape token escapes the next
 * character inside flag words (both are removed). Returns the rest of the line untouched.
 */
function extractBuilderFlags(line: string, escapeToken: string): { args: string; flags: string[] } {
  const words: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = "";
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const atEnd = pos === line.length;
    let ch = atEnd ? "" : (line[pos] as string);
    if (phase === "spaces") {
      if (atEnd) break;
      if (isSpace(ch)) continue;
      if (ch !== "-" || line[pos + 1] !== "-") return { args: line.slice(pos), flags: words };
      phase = "word";
    }
    if (atEnd) {
      if (word !== "--" && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === "word") {
      if (isSpace(ch)) {
        phase = "spaces";
        if (word === "--") return { args: line.slice(pos), flags: words };
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
        continue;
      }
      if (ch === escapeToken) {
        if (pos + 1 === line.length) continue; // a trailing escape is dropped
        pos++;
        ch = line[pos] as string;
      }
      word += ch;
      continue;
    }
    // phase === "quote"
    if (ch === quote) {
      phase = "word";
      continue;
    }
    if (ch === escapeToken) {
      if (pos + 1 === line.length) {
        phase = "word";
        continue;
      }
      pos++;
      ch = line[pos] as string;
    }
    word += ch;
  }
  return { args: "", flags: words };
}
