import { KilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { detectSyntax } from "./directives.js";
import { goQuote, goQuoteList } from "./go-quote.js";
import { dump, nodeArgs } from "./node.js";
import { parse } from "./parser.js";

function failure(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof KilnError) return err;
    throw err;
  }
  throw new Error("expected a KilnError");
}

describe("directives", () => {
  it("reads syntax, escape and check at the top, case-insensitively", () => {
    const r = parse("# Syntax = docker/dockerfile:1 \n#ESCAPE=`\n# check=skip=all;error=true\nFROM a\n");
    expect(r.directives).toEqual([
      { name: "syntax", value: "docker/dockerfile:1", line: 1 },
      { name: "escape", value: "`", line: 2 },
      { name: "check", value: "skip=all;error=true", line: 3 },
    ]);
    expect(r.escapeToken).toBe("`");
  });

  it("stops at the first non-directive line (comment, blank line, unknown directive)", () => {
    expect(parse("# hello\n# escape=`\nFROM a\n").escapeToken).toBe("\\");
    expect(parse("\n# escape=`\nFROM a\n").escapeToken).toBe("\\");
    expect(parse("# foo=bar\n# escape=`\nFROM a\n").directives).toEqual([]);
  });

  it("skips a BOM and a first-line shebang", () => {
    const r = parse("\uFEFF#!/usr/bin/env build\n# escape=`\nFROM a\n");
    expect(r.escapeToken).toBe("`");
    expect(r.directives).toEqual([{ name: "escape", value: "`", line: 2 }]);
    expect(dump(parse(new TextEncoder().encode("\uFEFFFROM a")).ast)).toBe('(from "a")');
  });

  it("rejects repeated directives and bad escape tokens with the line", () => {
    const dup = failure(() => parse("# syntax=a\n# syntax=b\nFROM a\n", "x/Dockerfile"));
    expect(dup.message).toBe("only one syntax parser directive can be used");
    expect(dup.location).toEqual({ file: "x/Dockerfile", line: 2, column: 1, text: "# syntax=b" });
    expect(failure(() => parse("# escape=x\nFROM a\n")).message).toBe(
      "invalid escape token 'x' does not match ` or \\",
    );
  });

  it("does not take directive comments as instruction comments", () => {
    const { ast } = parse("# syntax=x\n# base image\nFROM a\n");
    expect(ast.children[0]?.prevComment).toEqual(["base image"]);
  });

  it("detectSyntax accepts #, // and JSON forms and cuts at the first space", () => {
    expect(detectSyntax("# syntax=img:1 extra\nFROM a")).toEqual({
      ref: "img:1",
      value: "img:1 extra",
      line: 1,
    });
    expect(detectSyntax("#!/bin/x\n// syntax = img:2\n")).toEqual({ ref: "img:2", value: "img:2", line: 2 });
    expect(detectSyntax('{"syntax": "img:3"}')).toEqual({ ref: "img:3", value: "img:3", line: 0 });
    expect(detectSyntax("FROM a\n# syntax=late")).toBeUndefined();
  });
});

describe("escape token and continuations", () => {
  it("uses the backtick as escape and continuation token", () => {
    const { ast } = parse('# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo `"hi`"\nCOPY --chown=`a b c:\\x\n');
    expect(dump(ast)).toBe(
      '(from "a")\n(run "dir c:\\\\   && echo `\\"hi`\\"")\n(copy ["--chown=a"] "b" "c:\\\\x")',
    );
  });

  it("skips comment lines and empty lines inside continuations, warning about empty ones", () => {
    const r = parse("FROM a\nRUN echo 1 \\\n# inner comment\n\n   \n  && echo 2\n", "Dockerfile.dev");
    expect(nodeArgs(r.ast.children[1] as never)).toEqual(["echo 1   && echo 2"]);
    expect(r.warnings).toEqual([
      expect.objectContaining({
        rule: "NoEmptyContinuation",
        message: "Empty continuation line found in: RUN echo 1   && echo 2",
        location: { file: "Dockerfile.dev", line: 6, instruction: "RUN" },
      }),
    ]);
    expect([r.ast.children[1]?.startLine, r.ast.children[1]?.endLine]).toEqual([2, 6]);
  });

  it("treats an escaped escape token at the end of a line as literal", () => {
    const { ast } = parse("FROM a\nENV P=c:\\\\\nENV Q=x\n");
    expect(ast.children).toHaveLength(3);
  });
});

describe("instruction nodes", () => {
  it("keeps flags, JSON attribute, original line, keyword case and comments", () => {
    const { ast } = parse('FROM a\n# one\n#\n# two\ncopy --from=b --chmod=755 ["x", "y z"] \n');
    const copy = ast.children[1];
    expect(copy?.value).toBe("copy");
    expect(copy?.flags).toEqual(["--from=b", "--chmod=755"]);
    expect(copy?.attributes).toEqual({ json: true });
    expect(copy?.original).toBe('copy --from=b --chmod=755 ["x", "y z"] ');
    expect(copy?.prevComment).toEqual(["two"]);
    expect(nodeArgs(copy as never)).toEqual(["x", "y z"]);
  });

  it("parses unknown instructions (instructions layer rejects them)", () => {
    expect(dump(parse("FROM a\nFOO bar baz\n").ast)).toBe('(from "a")\n(foo "")');
  });

  it("parses ENV/LABEL/ARG forms into key/value/separator triples", () => {
    const { ast } = parse('FROM a\nENV A=1 B="2 3"\nLABEL k v w\nARG X Y=1 "Z=a b"\n');
    expect(dump(ast)).toBe(
      '(from "a")\n(env "A" "1" "=" "B" "\\"2 3\\"" "=")\n(label "k" "v w" "")\n(arg "X" "Y=1" "\\"Z=a b\\"")',
    );
  });

  it("fails on instruction argument errors naming file, line and instruction", () => {
    const err = failure(() => parse("FROM a\n\nENV NAME\n", "ctx/Dockerfile"));
    expect(err.message).toBe("ENV must have two arguments");
    expect(err.location).toEqual({
      file: "ctx/Dockerfile",
      line: 3,
      instruction: "ENV",
      column: 1,
      text: "ENV NAME",
    });
    expect(err.describe()).toBe(
      "ctx/Dockerfile:3:1: ENV: ENV must have two arguments\n   3 | ENV NAME\n     | ^",
    );
    expect(failure(() => parse("FROM a\nENV a=1 b\n")).message).toBe(
      'Syntax error - can\'t find = in "b". Must be of the form: name=value',
    );
    const json = failure(() => parse('FROM a\nRUN ["a", 1]\n'));
    expect(json.message).toBe("when using JSON array syntax, arrays must be comprised of strings only");
    expect(json.location?.instruction).toBe("RUN");
  });

  it("fails on files without instructions and over-long lines", () => {
    expect(failure(() => parse("")).message).toBe("file with no instructions");
    expect(failure(() => parse("# only\n\n")).message).toBe("file with no instructions");
    expect(failure(() => parse(`FROM a\nRUN ${"x".repeat(70000)}\n`)).message).toMatch(
      /greater than max allowed/,
    );
  });
});

describe("goQuote", () => {
  it.each([
    ["plain", '"plain"'],
    ['q"b\\', '"q\\"b\\\\"'],
    ["\x07\b\f\n\r\t\v\x00\x1b\x7f", '"\\a\\b\\f\\n\\r\\t\\v\\x00\\x1b\\x7f"'],
    ["♥ é 世界 😀", '"♥ é 世界 😀"'],
    ["\u00a0\u00ad\u2028\ufeff", '"\\u00a0\\u00ad\\u2028\\ufeff"'],
    ["\u{e0001}", '"\\U000e0001"'],
  ])("%j", (input, expected) => expect(goQuote(input)).toBe(expected));

  it("quotes lists like %q", () => expect(goQuoteList(["--a=b", 'c"'])).toBe('["--a=b" "c\\""]'));
});
