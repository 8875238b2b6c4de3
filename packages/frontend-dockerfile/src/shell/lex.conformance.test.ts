import { describe, expect, it } from "vitest";
import { readConformance } from "../parser/conformance.test-helpers.js";
import { createLexer } from "./lex.js";
import { convertShellPatternToRegex } from "./pattern.js";

const text = readConformance("shell-lex-cases.txt");
const lines = text.split("\n");

function section(begin: string, end: string): string[] {
  const from = lines.findIndex((l) => l.startsWith(`### BEGIN ${begin}`));
  const to = lines.findIndex((l) => l.startsWith(`### END ${end}`));
  if (from < 0 || to < 0) throw new Error(`section ${begin} not found`);
  return lines.slice(from + 1, to);
}

// Section 1: ProcessWord with a fixed env; W-only lines are Windows behaviour and are skipped.
const envVarCases = section("envVarTest", "envVarTest")
  .filter((l) => !l.startsWith("#") && l.trim() !== "")
  .map((l) => l.split("|").map((f) => f.trim()) as [string, string, string])
  .filter(([platform]) => platform !== "W");

describe("shell-lex-cases section 1 (envVarTest)", () => {
  const lex = createLexer("\\");
  const env = ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="];
  it.each(envVarCases.map((c, i) => [i, ...c]))("#%i %s|%s → %s", (_i, _p, input, expected) => {
    if (expected === "error") expect(() => lex.processWord(input as string, env)).toThrow();
    else expect(lex.processWord(input as string, env)).toBe(expected);
  });
});

describe("shell-lex-cases section 2 (wordsTest)", () => {
  // Cases depend on the cumulative ENV lines before them, so they run in order in one test.
  const body = section("wordsTest", "wordsTest").filter((l) => !l.startsWith("#") && l !== "");
  it(`runs all ${body.filter((l) => !l.startsWith("ENV ")).length} word-splitting cases in order`, () => {
    const lex = createLexer("\\");
    const env: string[] = [];
    for (const line of body) {
      if (line.startsWith("ENV ")) {
        env.push(line.slice(3).replace(/^ +/, ""));
        continue;
      }
      const parts = line.split("|");
      expect(parts).toHaveLength(2);
      const input = (parts[0] as string).trim();
      const expected = (parts[1] as string).replace(/^ +/, "").split(",");
      let result: string[];
      try {
        result = lex.processWords(input, [...env]);
      } catch {
        result = ["error"];
      }
      expect(result, `input ${JSON.stringify(input)}`).toEqual(expected);
    }
  });
});

interface MatchCase {
  input: string;
  envs: Record<string, string>;
  expected: string | null;
  expectedErr: boolean;
  matches?: string[];
  unmatched?: string[];
  errorContains?: string;
}

const matchCases = section("ProcessWithMatches", "ProcessWithMatches").map((l) => JSON.parse(l) as MatchCase);
const extraCases = section("extra", "extra").map((l) => JSON.parse(l) as MatchCase);

describe("shell-lex-cases section 3 (ProcessWithMatches)", () => {
  const lex = createLexer("\\");
  it.each(matchCases.map((c, i) => [i, c.input, c]))("#%i %s", (_i, _input, c) => {
    const tc = c as MatchCase;
    if (tc.expectedErr) {
      expect(() => lex.processWordWithMatches(tc.input, tc.envs)).toThrow();
      return;
    }
    const res = lex.processWordWithMatches(tc.input, tc.envs);
    expect(res.result).toBe(tc.expected);
    expect([...res.matched].sort()).toEqual([...(tc.matches ?? [])].sort());
    expect([...res.unmatched].sort()).toEqual([...(tc.unmatched ?? [])].sort());
  });
});

describe("shell-lex-cases section 4 (mandatory vars, platform args)", () => {
  const lex = createLexer("\\");
  it.each(extraCases.map((c, i) => [i, c.input, c]))("#%i %s", (_i, _input, c) => {
    const tc = c as MatchCase;
    if (tc.expectedErr) {
      expect(() => lex.processWord(tc.input, tc.envs)).toThrow(tc.errorContains ?? "");
    } else {
      expect(lex.processWord(tc.input, tc.envs)).toBe(tc.expected);
    }
  });
});

describe("shell-lex-cases section 5 (convertShellPatternToRegex)", () => {
  const s5 = lines.slice(lines.findIndex((l) => l.startsWith("# SECTION 5")));
  const quoted = String.raw`"((?:[^"\\]|\\.)*)"`;
  const pairs = [...s5.join("\n").matchAll(new RegExp(`${quoted} -> ${quoted}`, "g"))].map(
    (m) => [JSON.parse(`"${m[1]}"`), JSON.parse(`"${m[2]}"`)] as [string, string],
  );
  const invalidLine = s5.find((l) => l.includes("invalid patterns")) ?? "";
  const invalid = [...invalidLine.matchAll(new RegExp(quoted, "g"))].map(
    (m) => JSON.parse(`"${m[1]}"`) as string,
  );

  it("found the documented cases", () => {
    expect(pairs.length).toBe(4);
    expect(invalid.length).toBe(3);
  });
  it.each(pairs)("%s → %s", (pattern, goRegex) => {
    expect(convertShellPatternToRegex(pattern, true, true).goSource).toBe(goRegex);
  });
  it.each(invalid)("rejects %s", (pattern) => {
    expect(() => convertShellPatternToRegex(pattern, true, true)).toThrow(/invalid escape/);
  });
});
