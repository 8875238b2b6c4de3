/**
 * `.dockerignore` reading (moby/patternmatcher `ignorefile.ReadAll` rules): UTF-8 BOM stripped, lines
 * starting with `#` (column 0 only) skipped, surrounding whitespace trimmed, empty lines skipped,
 * `!` marks an exception, the path is cleaned and one leading `/` removed.
 */
import { trimSpace } from "../shell/chars.js";
import { cleanPath } from "./clean-path.js";

/** Returns patterns in file order, exceptions prefixed with `!` (the form LLB `ExcludePatterns` takes). */
export function parseIgnoreFile(content: string | Uint8Array): string[] {
  let text =
    typeof content === "string" ? content : new TextDecoder("utf-8", { ignoreBOM: true }).decode(content);
  if (text.startsWith("\uFEFF")) text = text.slice(1);
  const patterns: string[] = [];
  // bufio.ScanLines: split on \n, drop one trailing \r, no empty token after a final newline.
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  for (const rawLine of lines) {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (line.startsWith("#")) continue;
    let pattern = trimSpace(line);
    if (pattern === "") continue;
    const exception = pattern.startsWith("!");
    if (exception) pattern = trimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith("/")) pattern = pattern.slice(1);
    }
    patterns.push(exception ? `!${pattern}` : pattern);
  }
  return patterns;
}
