/**
 * Dockerfile text → AST (BuildKit `parser.Parse` semantics): directives, comments, line
 * continuations, per-instruction argument parsing and heredoc bodies. Variables are not expanded
 * here; that needs build-time state and is done by conversion with the shell lexer.
 */
import { KilnError, type SourceLocation } from "@kiln/core";
import { trimLeftSpace, trimSpace } from "../shell/chars.js";
import type { EscapeToken } from "../shell/lex.js";
import { createDirectiveParser, type Directive, DirectiveError } from "./directives.js";
import { heredocsFromLine } from "./heredoc.js";
import { LineParseError, nodeFromLine } from "./line-parsers.js";
import { type Node, newNode } from "./node.js";

export interface ParseWarning {
  /** Build-check rule name. */
  readonly rule: "NoEmptyContinuation";
  readonly message: string;
  readonly detail: string;
  readonly url: string;
  readonly location: SourceLocation;
}

export interface ParseResult {
  /** Root node; `ast.children` are the instructions in order. */
  readonly ast: Node;
  /** File name used in error and warning locations. */
  readonly file: string;
  /** Escape token in effect (`# escape=` directive); conversion must create its lexer with it. */
  readonly escapeToken: EscapeToken;
  /** Parser directives found at the top of the file. */
  readonly directives: readonly Directive[];
  readonly warnings: readonly ParseWarning[];
  /** The physical source lines without line endings (index 0 is line 1), for error snippets. */
  readonly sourceLines: readonly string[];
}

// bufio.Scanner's default limit: BuildKit refuses longer lines.
const MAX_LINE_BYTES = 64 * 1024;
const NO_EMPTY_CONTINUATION_URL = "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/";

/** Splits into lines that keep their line ending, so heredoc bodies keep `\r\n` as written. */
function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf("\n", start);
    const end = nl < 0 ? text.length : nl + 1;
    lines.push(text.slice(start, end));
    start = end;
  }
  return lines;
}

const trimNewline = (s: string): string => s.replace(/[\r\n]+$/, "");
const isComment = (line: string): boolean => trimLeftSpace(line).startsWith("#");

/**
 * The escape token is the line-continuation marker when it is the last non-blank character, unless
 * it is itself escaped (`\\` at the end of `ENV C trailing\\` is a literal backslash).
 */
function continuationRegex(token: EscapeToken): RegExp {
  const e = token === "\\" ? "\\\\" : "`";
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

function canContainHeredoc(node: Node): boolean {
  let n = node;
  if (n.value.toLowerCase() === "onbuild" && n.next && n.next.children.length > 0)
    n = n.next.children[0] as Node;
  return ["add", "copy", "run"].includes(n.value.toLowerCase()) && !n.attributes.json;
}

function keyword(line: string): string {
  return trimSpace(line).split(/[\t\v\f\r ]+/)[0] ?? "";
}

/**
 * Parses a Dockerfile. `file` names the source in errors (`KilnError("INVALID_ARGUMENT")` with
 * `location: { file, line, instruction }`, plus `details.endLine`).
 */
export function parse(source: string | Uint8Array, file = "Dockerfile"): ParseResult {
  const text =
    typeof source === "string" ? source : new TextDecoder("utf-8", { ignoreBOM: true }).decode(source);
  const lines = splitLines(text);
  const sourceLines = lines.map(trimNewline);
  let index = 0;
  let currentLine = 0;

  const fail = (message: string, line: number, instruction?: string, endLine?: number): never => {
    const at = Math.max(1, line);
    throw new KilnError("INVALID_ARGUMENT", message, {
      location: { file, line: at, ...(instruction ? { instruction } : {}), ...pointAt(sourceLines, at) },
      details: { endLine: Math.max(1, endLine ?? line) },
    });
  };
  const nextLine = (): string | undefined => {
    const line = lines[index];
    if (line !== undefined && Buffer.byteLength(line) > MAX_LINE_BYTES) {
      fail(`dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`, currentLine + 1);
    }
    index++;
    return line;
  };

  let escapeToken: EscapeToken = "\\";
  let continuation = continuationRegex(escapeToken);
  const directiveParser = createDirectiveParser();

  /** Strips the newline (and leading blanks), feeds the directive parser, blanks out comments. */
  const processLine = (raw: string, stripLeft: boolean): { text: string; directive: boolean } => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeftSpace(token);
    let directive = false;
    try {
      const found = directiveParser.parseLine(token);
      if (found?.name === "escape") {
        if (found.value !== "`" && found.value !== "\\") {
          throw new DirectiveError(`invalid escape token '${found.value}' does not match \` or \\`);
        }
        escapeToken = found.value;
        continuation = continuationRegex(escapeToken);
      }
      directive = found !== undefined;
    } catch (err) {
      if (err instanceof DirectiveError) fail(err.message, currentLine + 1);
      throw err;
    }
    return { text: isComment(token) ? "" : token, directive };
  };
  const trimContinuation = (line: string): [string, boolean] =>
    continuation.test(line) ? [line.replace(continuation, "$1"), false] : [line, true];

  const root = newNode({ startLine: -1 });
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];

  for (let raw = nextLine(); raw !== undefined; raw = nextLine()) {
    if (currentLine === 0 && raw.startsWith("\uFEFF")) raw = raw.slice(1);
    if (isComment(raw)) {
      // A bare `#` line separates comment blocks: only the block right above an instruction is kept.
      const comment = trimSpace(raw.slice(1));
      if (comment === "") comments = [];
      else comments.push(comment);
    }
    const first = processLine(raw, true);
    if (first.directive) comments.pop();
    currentLine++;
    const startLine = currentLine;
    let [line, endOfLine] = trimContinuation(first.text);
    if (endOfLine && line === "") continue;

    let hasEmptyContinuationLine = false;
    while (!endOfLine) {
      const rawNext = nextLine();
      if (rawNext === undefined) break;
      const next = processLine(rawNext, false);
      currentLine++;
      if (isComment(rawNext)) continue;
      if (trimLeftSpace(next.text) === "") {
        hasEmptyContinuationLine = true;
        continue;
      }
      let part: string;
      [part, endOfLine] = trimContinuation(next.text);
      line += part;
    }

    const instruction = keyword(line);
    if (hasEmptyContinuationLine) {
      warnings.push({
        rule: "NoEmptyContinuation",
        message: `Empty continuation line found in: ${line}`,
        detail: "Empty continuation lines will become errors in a future release",
        url: NO_EMPTY_CONTINUATION_URL,
        location: { file, line: currentLine, instruction },
      });
    }

    let child: Node;
    try {
      child = nodeFromLine(line, { escapeToken }, comments);
    } catch (err) {
      if (err instanceof LineParseError) return fail(err.message, startLine, instruction, currentLine);
      throw err;
    }

    if (canContainHeredoc(child) && line.includes("<<")) {
      let markers: ReturnType<typeof heredocsFromLine>;
      try {
        markers = heredocsFromLine(line);
      } catch (err) {
        return fail(err instanceof Error ? err.message : String(err), startLine, instruction, currentLine);
      }
      for (const marker of markers) {
        let content = "";
        let terminated = false;
        for (let body = nextLine(); body !== undefined; body = nextLine()) {
          currentLine++;
          let candidate = trimNewline(body);
          if (marker.chomp) candidate = candidate.replace(/^\t+/, "");
          if (candidate === marker.name) {
            terminated = true;
            break;
          }
          content += body;
        }
        if (!terminated) fail("unterminated heredoc", startLine, instruction, currentLine);
        child.heredocs.push({ ...marker, content });
      }
    }

    child.startLine = startLine;
    child.endLine = currentLine;
    if (root.startLine < 0) root.startLine = startLine;
    root.endLine = currentLine;
    root.children.push(child);
    comments = [];
  }

  if (root.startLine < 0) fail("file with no instructions", currentLine);
  return { ast: root, file, escapeToken, directives: directiveParser.directives, warnings, sourceLines };
}

/**
 * `column` and `text` for an error on `line`: the column of `needle` when it is found on that line,
 * else of the line's first non-blank character (the instruction keyword).
 */
export function pointAt(
  sourceLines: readonly string[],
  line: number,
  needle?: string,
): { column: number; text: string } | Record<string, never> {
  const text = sourceLines[line - 1];
  if (text === undefined) return {};
  const at = needle ? text.indexOf(needle) : -1;
  const offset = at >= 0 ? at : Math.max(0, text.search(/[^\s\uFEFF]/));
  return { column: Array.from(text.slice(0, offset)).length + 1, text };
}
