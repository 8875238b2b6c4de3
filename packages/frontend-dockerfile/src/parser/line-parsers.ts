/**
 * Per-instruction argument parsers (BuildKit's dispatch table). Each turns the argument text into
 * the `next` chain of a Node; the shapes are what `dump()` prints and what `instructions/` reads.
 */
import { isSpace, trimLeftSpace } from "../shell/chars.js";
import { goQuote } from "./go-quote.js";
import { type Node, newNode } from "./node.js";
import { goRegexpSplit, splitCommand, WHITESPACE_RUN } from "./split-command.js";

export interface LineContext {
  readonly escapeToken: string;
}

export interface LineParseResult {
  readonly next: Node | undefined;
  readonly attributes?: { json?: boolean };
}

/** Error raised by a line parser; the caller adds file/line/instruction. */
export class LineParseError extends Error {}

type LineParser = (rest: string, ctx: LineContext) => LineParseResult;

const NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only";

function chain(values: readonly string[]): Node | undefined {
  let head: Node | undefined;
  for (let i = values.length - 1; i >= 0; i--) head = newNode({ value: values[i] as string, next: head });
  return head;
}

/** Splits on whitespace but keeps quotes and escapes in the words (expansion happens later). */
export function parseWords(rest: string, escapeToken: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let quote = "";
  let blankOK = false;
  let word = "";
  for (let pos = 0; pos <= chars.length; pos++) {
    const atEnd = pos === chars.length;
    let ch = atEnd ? "" : (chars[pos] as string);
    if (phase === "spaces") {
      if (atEnd) break;
      if (isSpace(ch)) continue;
      phase = "word";
    }
    if (atEnd) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === "word") {
      if (isSpace(ch)) {
        phase = "spaces";
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue; // a trailing escape token is dropped
        // Unquoted: keep the escape token and the escaped character, even a quote.
        word += ch;
        pos++;
        ch = chars[pos] as string;
      }
      word += ch;
      continue;
    }
    // In quotes: the escape token escapes the next character except inside single quotes.
    if (ch === quote) phase = "word";
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = "word";
        continue;
      }
      word += ch;
      pos++;
      ch = chars[pos] as string;
    }
    word += ch;
  }
  return words;
}

function keyValueNode(key: string, value: string, sep: string): { head: Node; tail: Node } {
  const tail = newNode({ value: sep });
  return { head: newNode({ value: key, next: newNode({ value, next: tail }) }), tail };
}

/**
 * ENV/LABEL: `KEY value` (legacy: one pair, value = rest of line, separator "") or
 * `k=v k2=v2 ...` (separator "="). Each pair is three nodes: key, value, separator.
 */
function parseNameVal(rest: string, key: string, ctx: LineContext): Node | undefined {
  const words = parseWords(rest, ctx.escapeToken);
  if (words.length === 0) return undefined;
  if (!(words[0] as string).includes("=")) {
    const parts = goRegexpSplit(rest, WHITESPACE_RUN, 2);
    if (parts.length < 2) throw new LineParseError(`${key} must have two arguments`);
    return keyValueNode(parts[0] as string, parts[1] as string, "").head;
  }
  let root: Node | undefined;
  let prev: Node | undefined;
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq < 0) {
      throw new LineParseError(
        `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`,
      );
    }
    const { head, tail } = keyValueNode(word.slice(0, eq), word.slice(eq + 1), "=");
    if (prev) prev.next = head;
    root ??= head;
    prev = tail;
  }
  return root;
}

const parseEnv: LineParser = (rest, ctx) => ({ next: parseNameVal(rest, "ENV", ctx) });
const parseLabel: LineParser = (rest, ctx) => ({ next: parseNameVal(rest, "LABEL", ctx) });

/** ARG: whitespace-separated `name` / `name=value` words, quotes kept. */
const parseNameOrNameVal: LineParser = (rest, ctx) => ({ next: chain(parseWords(rest, ctx.escapeToken)) });

const parseStringsWhitespaceDelimited: LineParser = (rest) => ({
  next: rest === "" ? undefined : chain(goRegexpSplit(rest, WHITESPACE_RUN, -1)),
});

const parseString: LineParser = (rest) => ({ next: rest === "" ? undefined : newNode({ value: rest }) });

const parseIgnore: LineParser = () => ({ next: newNode() });

type JsonAttempt = { ok: true; next: Node | undefined } | { ok: false; notStrings: boolean };

/** Exec form: a JSON array of strings. Anything else that is not JSON falls back to shell form. */
function parseJSON(rest: string): JsonAttempt {
  const text = trimLeftSpace(rest);
  if (!text.startsWith("[")) return { ok: false, notStrings: false };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, notStrings: false };
  }
  if (!Array.isArray(parsed)) return { ok: false, notStrings: false };
  if (!parsed.every((v) => typeof v === "string")) return { ok: false, notStrings: true };
  return { ok: true, next: chain(parsed as string[]) };
}

/** CMD/ENTRYPOINT/RUN/SHELL: JSON array, or the whole rest as one shell-form string. */
const parseMaybeJSON: LineParser = (rest) => {
  if (rest === "") return { next: undefined };
  const json = parseJSON(rest);
  if (json.ok) return { next: json.next, attributes: { json: true } };
  if (json.notStrings) throw new LineParseError(NOT_STRING_ARRAY);
  return { next: newNode({ value: rest }) };
};

/** ADD/COPY/VOLUME: JSON array, or whitespace-separated words. */
const parseMaybeJSONToList: LineParser = (rest, ctx) => {
  const json = parseJSON(rest);
  if (json.ok) return { next: json.next, attributes: { json: true } };
  if (json.notStrings) throw new LineParseError(NOT_STRING_ARRAY);
  return parseStringsWhitespaceDelimited(rest, ctx);
};

/** HEALTHCHECK: first word is the type (CMD, NONE, ...), the rest is parsed like CMD. */
const parseHealthConfig: LineParser = (rest, ctx) => {
  let sep = 0;
  while (sep < rest.length && !isSpace(rest[sep] as string)) sep++;
  let next = sep;
  while (next < rest.length && isSpace(rest[next] as string)) next++;
  if (sep === 0) return { next: undefined };
  const cmd = parseMaybeJSON(rest.slice(next), ctx);
  return { next: newNode({ value: rest.slice(0, sep), next: cmd.next }), attributes: cmd.attributes ?? {} };
};

/** ONBUILD: the rest is a full instruction, parsed recursively into `next.children[0]`. */
const parseSubCommand: LineParser = (rest, ctx) => {
  if (rest === "") return { next: undefined };
  return { next: newNode({ children: [nodeFromLine(rest, ctx, [])] }) };
};

const DISPATCH: Readonly<Record<string, LineParser>> = {
  add: parseMaybeJSONToList,
  arg: parseNameOrNameVal,
  cmd: parseMaybeJSON,
  copy: parseMaybeJSONToList,
  entrypoint: parseMaybeJSON,
  env: parseEnv,
  expose: parseStringsWhitespaceDelimited,
  from: parseStringsWhitespaceDelimited,
  healthcheck: parseHealthConfig,
  label: parseLabel,
  maintainer: parseString,
  onbuild: parseSubCommand,
  run: parseMaybeJSON,
  shell: parseMaybeJSON,
  stopsignal: parseString,
  user: parseString,
  volume: parseMaybeJSONToList,
  workdir: parseString,
};

/** Builds the instruction node for one logical line. Unknown keywords parse (and fail later, in instructions). */
export function nodeFromLine(line: string, ctx: LineContext, comments: string[]): Node {
  const { cmd, flags, args } = splitCommand(line, ctx.escapeToken);
  const parser = Object.hasOwn(DISPATCH, cmd.toLowerCase()) ? DISPATCH[cmd.toLowerCase()] : undefined;
  const { next, attributes } = (parser ?? parseIgnore)(args, ctx);
  return newNode({
    value: cmd,
    original: line,
    flags,
    next,
    attributes: { ...attributes },
    prevComment: comments,
  });
}
