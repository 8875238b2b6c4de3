/**
 * Heredoc detection on instruction lines (`RUN <<EOF`, `COPY <<-"END" /dst`). The words of the line
 * are lexed with quotes and escapes kept so that quoting of the terminator can be detected: a
 * terminator with any quoted part disables variable expansion of the body.
 */
import { createLexer } from "../shell/lex.js";
import type { Heredoc } from "./node.js";

// `[\t\n\f\r ]` is Go's `\s`; JavaScript's `\s` is wider.
const HEREDOC_WORD = /^(\d*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const LEADING_TABS = /^\t+/gm;

const NO_ENV = (): undefined => undefined;
const lineLexer = createLexer("\\", { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
const wordLexer = createLexer("\\", { skipUnsetEnv: true });
const rawWordLexer = createLexer("\\", { rawQuotes: true, skipUnsetEnv: true });

function countQuotes(s: string): number {
  let n = 0;
  for (const ch of s) if (ch === "'" || ch === '"') n++;
  return n;
}

/**
 * Parses one word as a heredoc marker; returns undefined when it is not one. Throws the lexer's
 * KilnError when the terminator is malformed (e.g. an unterminated quote).
 */
export function parseHeredoc(word: string): Omit<Heredoc, "content"> | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3] as string;
  if (rest === "") return undefined;
  const words = wordLexer.processWords(rest, NO_ENV);
  if (words.length !== 1) return undefined;
  const raw = rawWordLexer.processWords(rest, NO_ENV);
  if (raw.length !== words.length) {
    throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const name = words[0] as string;
  return {
    name,
    expand: countQuotes(name) === countQuotes(raw[0] as string),
    chomp: m[2] === "-",
    fileDescriptor: m[1] === "" ? 0 : Number.parseInt(m[1] as string, 10),
  };
}

/** Like `parseHeredoc` but treats malformed markers as "not a heredoc" (BuildKit `MustParseHeredoc`). */
export function tryParseHeredoc(word: string): Omit<Heredoc, "content"> | undefined {
  try {
    return parseHeredoc(word);
  } catch {
    return undefined;
  }
}

/** All heredoc markers on an instruction line, in order. A line that does not lex has none. */
export function heredocsFromLine(line: string): Omit<Heredoc, "content">[] {
  let words: string[];
  try {
    words = lineLexer.processWords(line, NO_ENV);
  } catch {
    return [];
  }
  const docs: Omit<Heredoc, "content">[] = [];
  for (const word of words) {
    const doc = parseHeredoc(word);
    if (doc) docs.push(doc);
  }
  return docs;
}

/** `<<-` bodies: removes leading tabs from every line. */
export function chompHeredocContent(content: string): string {
  return content.replace(LEADING_TABS, "");
}
