/**
 * Checks that look at the file as a whole and at FROM lines, run for every stage whatever the
 * target (BuildKit runs them while parsing and planning stages).
 */
import { parsePlatform } from "@kiln/core";
import type { ArgCommand, Stage } from "../instructions/index.js";
import { suggest } from "../instructions/suggest.js";
import { type Node, nodeArgs } from "../parser/node.js";
import type { ParseResult } from "../parser/parser.js";
import type { ShellLexer } from "../shell/index.js";
import type { Linter } from "./linter.js";
import { RULES } from "./rules.js";

const RESERVED_STAGE_NAMES = new Set(["context", "scratch"]);

export function checkParse(parsed: ParseResult, lint: Linter): void {
  for (const w of parsed.warnings) {
    if (w.rule === "NoEmptyContinuation") lint.run(RULES.NoEmptyContinuation, w.location, []);
  }
  for (const node of parsed.ast.children) {
    const location = nodeLocation(parsed, node);
    const keyword = node.value.toLowerCase();
    const args = nodeArgs(node);
    if (keyword === "maintainer") lint.run(RULES.MaintainerDeprecated, location, []);
    if (keyword === "from" && args.length === 3) {
      const [, as = "", name = ""] = args;
      if (name !== name.toLowerCase()) lint.run(RULES.StageNameCasing, location, [name]);
      const from = node.value;
      const fromLower = from === from.toLowerCase();
      const fromUpper = from === from.toUpperCase();
      if ((fromLower && as !== as.toLowerCase()) || (!fromLower && fromUpper && as !== as.toUpperCase())) {
        lint.run(RULES.FromAsCasing, location, [from, as]);
      }
      checkDescription(lint, location, "FROM", [name.toLowerCase()], node.prevComment);
    }
    if (keyword === "arg") {
      const keys = args.map((a) => (a.includes("=") ? a.slice(0, a.indexOf("=")) : a));
      checkDescription(lint, location, "ARG", keys, node.prevComment);
    }
  }
}

export function nodeLocation(parsed: ParseResult, node: Node) {
  const text = parsed.sourceLines[node.startLine - 1];
  return {
    file: parsed.file,
    line: Math.max(1, node.startLine),
    instruction: node.value,
    ...(text !== undefined ? { text } : {}),
  };
}

/** InvalidDefinitionDescription: the comment right above must start with the defined name. */
function checkDescription(
  lint: Linter,
  location: ReturnType<typeof nodeLocation>,
  instruction: string,
  keys: readonly string[],
  comments: readonly string[],
): void {
  if (comments.length === 0 || keys.length === 0) return;
  const first = (comments[comments.length - 1] as string).split(" ")[0] as string;
  if (keys.includes(first)) return;
  lint.run(RULES.InvalidDefinitionDescription, location, [
    instruction,
    keys.length > 1 ? "<arg_key>" : (keys[0] as string),
  ]);
}

/** ConsistentInstructionCasing, DuplicateStageName and ReservedStageName. */
export function checkStages(stages: readonly Stage[], lint: Linter): void {
  let lower = 0;
  let upper = 0;
  const names = (s: Stage) => [s.location.instruction, ...s.commands.map((c) => c.location.instruction)];
  for (const name of stages.flatMap(names)) {
    if (name === name.toLowerCase()) lower++;
    else if (name === name.toUpperCase()) upper++;
  }
  const majorityLower = lower > upper;
  for (const stage of stages) {
    for (const cmd of [stage, ...stage.commands]) {
      const name = cmd.location.instruction;
      const casing =
        majorityLower && name !== name.toLowerCase()
          ? "lowercase"
          : !majorityLower && name !== name.toUpperCase()
            ? "uppercase"
            : "";
      if (casing) lint.run(RULES.ConsistentInstructionCasing, cmd.location, [name, casing]);
    }
  }
  const seen = new Set<string>();
  for (const stage of stages) {
    if (stage.name === undefined) continue;
    if (RESERVED_STAGE_NAMES.has(stage.name)) lint.run(RULES.ReservedStageName, stage.location, [stage.name]);
    if (seen.has(stage.name)) lint.run(RULES.DuplicateStageName, stage.location, [stage.name]);
    seen.add(stage.name);
  }
}

/** The global scope the FROM lines see: platform args, then the meta ARGs (build args win). */
export function evalMetaArgs(
  metaArgs: readonly ArgCommand[],
  lexer: ShellLexer,
  initial: ReadonlyMap<string, string>,
  buildArgs: ReadonlyMap<string, string> | undefined,
): { env: Map<string, string>; declared: Set<string> } {
  const env = new Map(initial);
  const declared = new Set<string>();
  for (const cmd of metaArgs) {
    for (const def of cmd.args) {
      declared.add(def.key);
      let value = buildArgs?.get(def.key);
      if (value === undefined && def.value !== undefined) {
        try {
          value = lexer.processWord(def.value, env);
        } catch {
          value = undefined;
        }
      }
      if (value !== undefined) env.set(def.key, value);
    }
  }
  return { env, declared };
}

/** UndefinedArgInFrom, RedundantTargetPlatform, FromPlatformFlagConstDisallowed. */
export function checkFromArgs(
  stages: readonly Stage[],
  lexer: ShellLexer,
  globals: { env: ReadonlyMap<string, string>; declared: ReadonlySet<string> },
  lint: Linter,
): void {
  const keys = [...new Set([...globals.declared, ...globals.env.keys()])];
  const undeclared = (unmatched: ReadonlySet<string>, location: Stage["location"]) => {
    for (const name of unmatched) {
      if (keys.includes(name)) continue;
      lint.run(RULES.UndefinedArgInFrom, location, [name, suggest(name, keys, true) ?? ""]);
    }
  };
  for (const stage of stages) {
    const base = matches(lexer, stage.baseName, globals.env);
    if (base) undeclared(base.unmatched, stage.location);
    if (stage.platform === undefined) continue;
    const platform = matches(lexer, stage.platform, globals.env);
    if (!platform) continue;
    undeclared(platform.unmatched, stage.location);
    if (
      platform.matched.size === 1 &&
      platform.unmatched.size === 0 &&
      platform.matched.has("TARGETPLATFORM") &&
      platform.result === globals.env.get("TARGETPLATFORM")
    ) {
      lint.run(RULES.RedundantTargetPlatform, stage.location, [stage.platform]);
    }
    if (platform.matched.size === 0 && platform.unmatched.size === 0) {
      let parsed: { os: string; architecture: string } | undefined;
      try {
        parsed = parsePlatform(platform.result);
      } catch {
        parsed = undefined;
      }
      const name = stage.name ?? "";
      if (parsed && !name.includes(parsed.os) && !name.includes(parsed.architecture)) {
        lint.run(RULES.FromPlatformFlagConstDisallowed, stage.location, [platform.result]);
      }
    }
  }
}

/** InvalidDefaultArgInFrom: with no build args, every FROM must still name a valid image. */
export function checkDefaultArgsInFrom(
  stages: readonly Stage[],
  metaArgs: readonly ArgCommand[],
  lexer: ShellLexer,
  platformEnv: ReadonlyMap<string, string>,
  lint: Linter,
): void {
  const { env } = evalMetaArgs(metaArgs, lexer, platformEnv, undefined);
  for (const stage of stages) {
    const base = matches(lexer, stage.baseName, env);
    if (!base) return;
    if (!isValidReference(base.result))
      lint.run(RULES.InvalidDefaultArgInFrom, stage.location, [stage.baseName]);
  }
}

function matches(lexer: ShellLexer, word: string, env: ReadonlyMap<string, string>) {
  try {
    return lexer.processWordWithMatches(word, env);
  } catch {
    return undefined;
  }
}

// distribution/reference grammar: [domain/]path[:tag][@digest], path components lowercase.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
const REFERENCE = new RegExp(
  `^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`,
);

export function isValidReference(ref: string): boolean {
  const name = ref.replace(/[:@].*$/, "");
  return ref !== "" && name.length <= 255 && REFERENCE.test(ref);
}
