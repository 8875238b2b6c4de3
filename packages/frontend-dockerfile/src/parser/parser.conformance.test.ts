import { isKilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { listConformanceDir, readConformance, readConformanceBytes } from "./conformance.test-helpers.js";
import { dump } from "./node.js";
import { parse } from "./parser.js";

const positive = listConformanceDir("parser-testfiles/testfiles");
const negative = listConformanceDir("parser-testfiles/testfiles-negative");

describe("parser-testfiles/testfiles: dump equals result", () => {
  it("has the 33 documented cases", () => expect(positive).toHaveLength(33));
  it.each(positive)("%s", (name) => {
    const dir = `parser-testfiles/testfiles/${name}`;
    const result = parse(readConformanceBytes(`${dir}/Dockerfile`), `${name}/Dockerfile`);
    expect(`${dump(result.ast)}\n`).toBe(readConformance(`${dir}/result`));
  });
});

describe("parser-testfiles/testfiles-negative: parse fails", () => {
  it("has the 4 documented cases", () => expect(negative).toHaveLength(4));
  it.each(negative)("%s", (name) => {
    const bytes = readConformanceBytes(`parser-testfiles/testfiles-negative/${name}/Dockerfile`);
    let error: unknown;
    try {
      parse(bytes, "Dockerfile");
    } catch (err) {
      error = err;
    }
    expect(isKilnError(error, "INVALID_ARGUMENT")).toBe(true);
  });
});

describe("parser-testfiles/testfile-line", () => {
  it("records 1-based start/end lines", () => {
    const { ast } = parse(readConformanceBytes("parser-testfiles/testfile-line/Dockerfile"));
    expect([ast.startLine, ast.endLine]).toEqual([5, 31]);
    expect(ast.children.map((c) => [c.startLine, c.endLine])).toEqual([
      [5, 5],
      [11, 12],
      [17, 31],
    ]);
  });
});
