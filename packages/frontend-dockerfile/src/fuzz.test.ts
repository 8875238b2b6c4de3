/**
 * Property-based fuzzing (fast-check) of everything that reads untrusted Dockerfile text: the parser,
 * instruction parsing, the build checks, outline/targets and the shell lexer. Inputs are the
 * BuildKit conformance corpus, mutated, plus generated instruction lines and shell words. The only
 * failure allowed is a KilnError; each run must also finish within a time bound (a hang or a
 * super-linear blow-up shows up as a failed property with the input that caused it).
 */
import { KilnError } from "@kiln/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { outlineDockerfile } from "./convert/outline.js";
import { checkDockerfile, listTargets } from "./convert/subrequests.js";
import { parseInstruction, parseStages } from "./instructions/index.js";
import {
  listConformanceDir,
  readConformance,
  readConformanceBytes,
} from "./parser/conformance.test-helpers.js";
import { parse } from "./parser/index.js";
import { createLexer } from "./shell/index.js";

const RUN_BUDGET_MS = 1000;
// Fixed by default so CI is reproducible; KILN_FUZZ_SEED / KILN_FUZZ_SCALE explore further locally.
const SEED = Number(process.env.KILN_FUZZ_SEED ?? 20261130);
const SCALE = Number(process.env.KILN_FUZZ_SCALE ?? 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)), seed: SEED });
const PLATFORM = { os: "linux", architecture: "amd64" };

const corpus: string[] = ["testfiles", "testfiles-negative"].flatMap((dir) =>
  listConformanceDir(`parser-testfiles/${dir}`).map((name) =>
    new TextDecoder().decode(readConformanceBytes(`parser-testfiles/${dir}/${name}/Dockerfile`)),
  ),
);
const lexWords: string[] = readConformance("shell-lex-cases.txt")
  .split("\n")
  .filter((l) => l.includes("|") && !l.startsWith("#"))
  .map((l) => l.split("|")[1]?.trim() ?? "")
  .filter((w) => w !== "");

/** Runs `fn`; anything thrown other than a KilnError, or a run over budget, fails the property. */
function bounded(fn: () => void): void {
  const start = performance.now();
  try {
    fn();
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
  }
  const elapsed = performance.now() - start;
  if (elapsed > RUN_BUDGET_MS) throw new Error(`run took ${elapsed.toFixed(0)} ms`);
}

/** The whole read path a build or a --call takes on a Dockerfile. */
function readDockerfile(text: string): void {
  const data = new TextEncoder().encode(text);
  bounded(() => {
    const parsed = parse(data, "Dockerfile");
    for (const node of parsed.ast.children) {
      try {
        parseInstruction(node, "Dockerfile", parsed.sourceLines);
      } catch (err) {
        if (!(err instanceof KilnError)) throw err;
      }
    }
    parseStages(parsed);
  });
  bounded(() => void checkDockerfile({ attrs: {}, file: { name: "Dockerfile", data }, platform: PLATFORM }));
  bounded(() => void listTargets({ name: "Dockerfile", data }));
  bounded(() => void outlineDockerfile({ name: "Dockerfile", data }, {}, PLATFORM));
  bounded(() => {
    try {
      parse(data);
    } catch (err) {
      // Errors must be describable: the CLI prints them with their snippet.
      if (err instanceof KilnError) expect(typeof err.describe()).toBe("string");
      throw err;
    }
  });
}

// Characters that matter to the parser and lexer, plus some that should not.
const SPECIAL = [..."\\`\"'$ {}[]()<>-=:#,/\t\n\r*?%+@!;|&~^", "<<", "<<-", "${", "\\\n", "\uFEFF", "é", "𝒳"];
const token = fc.oneof(
  fc.constantFrom(...SPECIAL),
  fc.constantFrom("FROM", "RUN", "COPY", "ADD", "ARG", "ENV", "ONBUILD", "HEALTHCHECK", "SHELL", "AS", "EOF"),
  fc.constantFrom(
    "--mount=",
    "--from=",
    "--platform=",
    "--chmod=",
    "type=secret,id=",
    "# check=",
    "# syntax=",
  ),
  fc.string({ maxLength: 6 }),
);
const fragment = fc.array(token, { maxLength: 12 }).map((parts) => parts.join(""));

type Mutation = {
  kind: "insert" | "delete" | "dupLine" | "swapLines";
  at: number;
  text: string;
  len: number;
};
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("insert", "delete", "dupLine", "swapLines"),
  at: fc.nat(),
  text: fragment,
  len: fc.nat({ max: 20 }),
});

function mutate(seed: string, mutations: readonly Mutation[]): string {
  let text = seed;
  for (const m of mutations) {
    const at = text.length === 0 ? 0 : m.at % (text.length + 1);
    if (m.kind === "insert") text = text.slice(0, at) + m.text + text.slice(at);
    else if (m.kind === "delete") text = text.slice(0, at) + text.slice(at + m.len);
    else {
      const lines = text.split("\n");
      const i = m.at % lines.length;
      const j = (m.at + m.len) % lines.length;
      if (m.kind === "dupLine") lines.splice(i, 0, lines[i] as string);
      else [lines[i], lines[j]] = [lines[j] as string, lines[i] as string];
      text = lines.join("\n");
    }
  }
  return text;
}

const instructionLine = fc
  .tuple(
    fc.constantFrom("FROM", "RUN", "COPY", "ADD", "ARG", "ENV", "LABEL", "EXPOSE", "WORKDIR", "USER", "CMD"),
    fc.constantFrom(
      "ENTRYPOINT",
      "VOLUME",
      "SHELL",
      "STOPSIGNAL",
      "HEALTHCHECK",
      "ONBUILD",
      "MAINTAINER",
      "from",
    ),
    fc.boolean(),
    fragment,
  )
  .map(([a, b, pickFirst, rest]) => `${pickFirst ? a : b} ${rest}`);
const generatedDockerfile = fc
  .tuple(
    fc.constantFrom("", "# syntax=docker/dockerfile:1\n", "# escape=`\n", "# check=error=true\n"),
    fc.array(instructionLine, { maxLength: 10 }),
  )
  .map(([head, lines]) => `${head}FROM scratch AS base\n${lines.join("\n")}\n`);

describe("fuzzing the Dockerfile read path (only KilnError, bounded time)", () => {
  it("the conformance corpus itself", () => {
    for (const text of corpus) readDockerfile(text);
  });

  it("mutated corpus files", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...corpus),
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        (seed, ms) => readDockerfile(mutate(seed, ms)),
      ),
      runs(300),
    );
  });

  it("generated instruction lines", () => {
    fc.assert(fc.property(generatedDockerfile, readDockerfile), runs(300));
  });

  it("arbitrary text", () => {
    // "grapheme" units: "binary" ones are slow to generate and add nothing the parser treats differently.
    const text = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 300 }),
      fc
        .array(fc.oneof(fragment, fc.string({ unit: "grapheme-ascii" })), { maxLength: 20 })
        .map((l) => l.join("\n")),
    );
    fc.assert(fc.property(text, readDockerfile), runs(300));
  });
});

describe("fuzzing the shell lexer (only KilnError, bounded time)", () => {
  const env = new Map([
    ["A", "a b"],
    ["EMPTY", ""],
    ["PATH", "/bin:/usr/bin"],
  ]);
  const word = fc.oneof(
    fc.constantFrom(...lexWords),
    fc.tuple(fc.constantFrom(...lexWords), fragment, fc.nat()).map(([w, f, at]) => {
      const i = w.length === 0 ? 0 : at % (w.length + 1);
      return w.slice(0, i) + f + w.slice(i);
    }),
    fc
      .array(
        fc.constantFrom(
          "$",
          "{",
          "}",
          "A",
          "EMPTY",
          ":",
          "-",
          "+",
          "?",
          "#",
          "%",
          "/",
          "\\",
          "'",
          '"',
          " ",
          "x",
          "*",
          "[",
        ),
        {
          maxLength: 24,
        },
      )
      .map((cs) => cs.join("")),
  );
  const options = fc.record({
    rawQuotes: fc.boolean(),
    rawEscapes: fc.boolean(),
    skipProcessQuotes: fc.boolean(),
    skipUnsetEnv: fc.boolean(),
  });

  it("processWord / processWords / processWordWithMatches on corpus-seeded and generated words", () => {
    fc.assert(
      fc.property(
        word,
        fc.constantFrom("\\", "`") as fc.Arbitrary<"\\" | "`">,
        options,
        (w, escapeToken, opts) => {
          const lexer = createLexer(escapeToken, opts);
          bounded(() => void lexer.processWord(w, env));
          bounded(() => void lexer.processWords(w, env));
          bounded(() => {
            const r = lexer.processWordWithMatches(w, env);
            for (const name of r.matched) expect(env.has(name)).toBe(true);
          });
        },
      ),
      runs(1500),
    );
  });
});
