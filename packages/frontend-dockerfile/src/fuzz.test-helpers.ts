/**
 * Inputs for the fuzz properties in fuzz.test.ts: BuildKit's conformance corpus (parser test files,
 * lexer words), mutations of it, and generators of Dockerfile-shaped text.
 */
import fc from "fast-check";
import {
  listConformanceDir,
  readConformance,
  readConformanceBytes,
} from "./parser/conformance.test-helpers.js";

export const corpus: string[] = ["testfiles", "testfiles-negative"].flatMap((dir) =>
  listConformanceDir(`parser-testfiles/${dir}`).map((name) =>
    new TextDecoder().decode(readConformanceBytes(`parser-testfiles/${dir}/${name}/Dockerfile`)),
  ),
);
export const lexWords: string[] = readConformance("shell-lex-cases.txt")
  .split("\n")
  .filter((l) => l.includes("|") && !l.startsWith("#"))
  .map((l) => l.split("|")[1]?.trim() ?? "")
  .filter((w) => w !== "");

// Characters that matter to the parser and lexer, plus some that should not.
export const SPECIAL = [
  ..."\\`\"'$ {}[]()<>-=:#,/\t\n\r*?%+@!;|&~^",
  "<<",
  "<<-",
  "${",
  "\\\n",
  "\uFEFF",
  "é",
  "𝒳",
];
export const token = fc.oneof(
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
export const fragment = fc.array(token, { maxLength: 12 }).map((parts) => parts.join(""));

export type Mutation = {
  kind: "insert" | "delete" | "dupLine" | "swapLines";
  at: number;
  text: string;
  len: number;
};
export const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("insert", "delete", "dupLine", "swapLines"),
  at: fc.nat(),
  text: fragment,
  len: fc.nat({ max: 20 }),
});

export function mutate(seed: string, mutations: readonly Mutation[]): string {
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

export const instructionLine = fc
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
export const generatedDockerfile = fc
  .tuple(
    fc.constantFrom("", "# syntax=docker/dockerfile:1\n", "# escape=`\n", "# check=error=true\n"),
    fc.array(instructionLine, { maxLength: 10 }),
  )
  .map(([head, lines]) => `${head}FROM scratch AS base\n${lines.join("\n")}\n`);

/** Well-formed instruction shapes with fuzzed values, so conversion (not just parsing) is reached. */
export const value = fc.oneof(
  fc.constantFrom(...lexWords),
  fragment.map((f) => f.replace(/[\r\n\\]/g, "")),
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Dockerfile variable syntax, not a template
  fc.constantFrom("$X", "${X:-/d}", "${NOPE:?unset}", "/abs", "rel", "1", "0777", "base", "0", "linux/arm64"),
);
export const mountField = fc.oneof(
  fc.constantFrom("type=cache", "type=bind", "type=secret", "type=ssh", "type=tmpfs", "type=bogus"),
  fc.constantFrom("target=/x", "id=a", "from=base", "source=/", "ro", "rw=maybe", "size=1x", "required"),
  fc.constantFrom("mode=0777", "uid=1", "gid=x", "sharing=xyz", "env=E", "readonly=false", "dst=$X", "src"),
  value.map((v) => `target=${v.replace(/,/g, "")}`),
);
export const structuredLine = fc.oneof(
  fc.array(mountField, { minLength: 1, maxLength: 5 }).map((f) => `RUN --mount=${f.join(",")} true`),
  fc
    .tuple(
      fc.constantFrom("COPY", "ADD"),
      value,
      fc.constantFrom("", "--from=base ", "--chmod=755 ", "--link "),
    )
    .map(([c, v, flag]) => `${c === "ADD" ? "ADD" : `COPY ${flag}`}${v} /dst/`),
  fc
    .tuple(
      fc.constantFrom(
        "ARG X=",
        "ENV Y=",
        "WORKDIR ",
        "USER ",
        "EXPOSE ",
        "LABEL a=",
        "STOPSIGNAL ",
        "VOLUME ",
      ),
      value,
    )
    .map(([c, v]) => `${c}${v}`),
  fc
    .tuple(fc.constantFrom("CMD ", "ENTRYPOINT ", "HEALTHCHECK --interval=", "FROM "), value)
    .map(([c, v]) =>
      c.startsWith("HEALTH") ? `${c}${v} CMD true` : c === "FROM " ? `FROM ${v} AS s${v.length}` : `${c}${v}`,
    ),
  fc.constantFrom('SHELL ["sh", "-c"]', "ONBUILD RUN x", "RUN <<EOF\necho $X\nEOF", "COPY <<A /a\nx\nA"),
);
export const structuredDockerfile = fc
  .array(structuredLine, { maxLength: 8 })
  .map((lines) => `ARG X=1\nFROM img AS base\nARG X\n${lines.join("\n")}\n`);
