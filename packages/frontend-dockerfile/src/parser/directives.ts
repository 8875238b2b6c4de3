/**
 * Parser directives (`# syntax=…`, `# escape=…`, `# check=…`). They are only recognised in the
 * leading comment block: the first line that is not a known directive ends directive parsing, and
 * each directive may appear once.
 */
import { trimLeftSpace } from "../shell/chars.js";

export type DirectiveName = "syntax" | "escape" | "check";

export interface Directive {
  /** Lower-cased directive name. */
  readonly name: DirectiveName;
  /** Value as written (trimmed). For `syntax` the image ref is the part before the first space. */
  readonly value: string;
  /** 1-based line of the directive. */
  readonly line: number;
}

const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;
const KNOWN = new Set<string>(["syntax", "escape", "check"]);

export class DirectiveError extends Error {}

export interface DirectiveParser {
  /** Feeds one line (newline removed). Returns the directive found on it, if any. */
  parseLine(line: string): Directive | undefined;
  readonly directives: readonly Directive[];
}

/**
 * `comment` is the line prefix (`#`; `//` is also accepted by syntax detection). A `#!` shebang on
 * line 1 is skipped rather than ending the directive block, so `#!/usr/bin/env dockerfile` can be
 * followed by directives (BuildKit skips it the same way when detecting `syntax` and `check`).
 */
export function createDirectiveParser(comment = "#", skipShebang = true): DirectiveParser {
  let lineNo = 0;
  let done = false;
  const seen = new Set<string>();
  const directives: Directive[] = [];
  return {
    directives,
    parseLine(line) {
      lineNo++;
      if (done) return undefined;
      if (skipShebang && lineNo === 1 && line.startsWith("#!")) return undefined;
      if (!line.startsWith(comment)) {
        done = true;
        return undefined;
      }
      const m = DIRECTIVE.exec(trimLeftSpace(line.slice(comment.length)));
      const name = m?.[1]?.toLowerCase();
      if (!m || name === undefined || !KNOWN.has(name)) {
        done = true;
        return undefined;
      }
      if (seen.has(name)) throw new DirectiveError(`only one ${name} parser directive can be used`);
      seen.add(name);
      const directive: Directive = { name: name as DirectiveName, value: m[2] as string, line: lineNo };
      directives.push(directive);
      return directive;
    },
  };
}

/**
 * Finds the `syntax` directive like BuildKit's `DetectSyntax`: `# syntax=`, then `// syntax=`, then a
 * JSON document `{"syntax": "..."}`. Returns the image reference (value up to the first space).
 */
export function detectSyntax(source: string): { ref: string; value: string; line: number } | undefined {
  let text = source.startsWith("\uFEFF") ? source.slice(1) : source;
  let offset = 0;
  if (text.startsWith("#!")) {
    const firstLineEnd = text.indexOf("\n");
    text = firstLineEnd < 0 ? "" : text.slice(firstLineEnd + 1);
    offset = 1;
  }
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  for (const comment of ["#", "//"]) {
    const parser = createDirectiveParser(comment, false);
    try {
      for (const line of lines) parser.parseLine(line);
    } catch {
      // a duplicate directive ends detection, keeping what was found before it
    }
    const found = parser.directives.find((d) => d.name === "syntax");
    if (found)
      return { ref: found.value.split(" ")[0] as string, value: found.value, line: found.line + offset };
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (json && typeof json === "object" && typeof (json as { syntax?: unknown }).syntax === "string") {
      const value = (json as { syntax: string }).syntax;
      return { ref: value, value, line: offset };
    }
  } catch {
    // not JSON
  }
  return undefined;
}
