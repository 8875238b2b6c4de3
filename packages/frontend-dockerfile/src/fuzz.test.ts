/**
 * Property-based fuzzing (fast-check) of everything that reads untrusted Dockerfile text: the parser,
 * instruction parsing, the build checks, outline/targets and the shell lexer. Inputs are the
 * BuildKit conformance corpus, mutated, plus generated instruction lines and shell words. The only
 * failure allowed is a KilnError; each run must also finish within a time bound (a hang or a
 * super-linear blow-up shows up as a failed property with the input that caused it).
 */

import type { FrontendBridge } from "@kiln/core";
import { KilnError } from "@kiln/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { convertDockerfile } from "./convert/frontend.js";
import { outlineDockerfile } from "./convert/outline.js";
import { checkDockerfile, listTargets } from "./convert/subrequests.js";
import {
  corpus,
  fragment,
  generatedDockerfile,
  lexWords,
  mutate,
  mutation,
  structuredDockerfile,
} from "./fuzz.test-helpers.js";
import { parseInstruction, parseStages } from "./instructions/index.js";
import { parse } from "./parser/index.js";
import { createLexer } from "./shell/index.js";

// Generous: the machine may be busy; real hangs and blow-ups take far longer.
const RUN_BUDGET_MS = 2000;
const TEST_TIMEOUT_MS = 60_000;
// Fixed by default so CI is reproducible; KILN_FUZZ_SEED / KILN_FUZZ_SCALE explore further locally.
const SEED = Number(process.env.KILN_FUZZ_SEED ?? 20261130);
const SCALE = Number(process.env.KILN_FUZZ_SCALE ?? 1);
const runs = (n: number) => ({ numRuns: Math.max(1, Math.round(n * SCALE)), seed: SEED });
const PLATFORM = { os: "linux", architecture: "amd64" };

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

describe("fuzzing the Dockerfile read path (only KilnError, bounded time)", {
  timeout: TEST_TIMEOUT_MS,
}, () => {
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
      runs(150),
    );
  });

  it("generated instruction lines", () => {
    fc.assert(fc.property(generatedDockerfile, readDockerfile), runs(150));
  });

  it("arbitrary text", () => {
    // "grapheme" units: "binary" ones are slow to generate and add nothing the parser treats differently.
    const text = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 300 }),
      fc
        .array(fc.oneof(fragment, fc.string({ unit: "grapheme-ascii" })), { maxLength: 20 })
        .map((l) => l.join("\n")),
    );
    fc.assert(fc.property(text, readDockerfile), runs(200));
  });
});

/** A bridge that resolves every image to an empty one, so conversion runs without I/O. */
const offlineBridge: FrontendBridge = {
  async resolveImage(ref) {
    return {
      identifier: `docker-image://${ref.replace(/^docker-image:\/\//, "")}@sha256:${"a".repeat(64)}`,
      attrs: {},
      manifestDigest: `sha256:${"a".repeat(64)}`,
      config: {
        ...PLATFORM,
        rootfs: { type: "layers", diff_ids: [] },
        config: { Env: ["PATH=/bin"], OnBuild: ["RUN echo trigger"] },
      },
    };
  },
  warn() {},
};

async function convertBounded(text: string): Promise<void> {
  const start = performance.now();
  try {
    await convertDockerfile({
      attrs: { "build-arg:X": "1" },
      file: { name: "Dockerfile", data: new TextEncoder().encode(text) },
      platform: PLATFORM,
      bridge: offlineBridge,
    });
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    expect(err.location, err.message).toBeDefined();
  }
  const elapsed = performance.now() - start;
  if (elapsed > RUN_BUDGET_MS) throw new Error(`conversion took ${elapsed.toFixed(0)} ms`);
}

describe("fuzzing Dockerfile → LLB conversion (only located KilnErrors, bounded time)", {
  timeout: TEST_TIMEOUT_MS,
}, () => {
  const dockerfile = fc.oneof(
    structuredDockerfile,
    structuredDockerfile,
    generatedDockerfile,
    fc
      .tuple(fc.constantFrom(...corpus), fc.array(mutation, { maxLength: 4 }))
      .map(([seed, ms]) => mutate(seed, ms)),
  );
  it("generated and mutated Dockerfiles", async () => {
    await fc.assert(fc.asyncProperty(dockerfile, convertBounded), runs(200));
  });
});

describe("fuzzing the shell lexer (only KilnError, bounded time)", { timeout: TEST_TIMEOUT_MS }, () => {
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
