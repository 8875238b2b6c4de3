/**
 * AST → typed commands (BuildKit `instructions.Parse`). Every error becomes
 * `KilnError("INVALID_ARGUMENT")` carrying `location: { file, line, instruction }`.
 */
import { KilnError } from "@kiln/core";
import { goQuote } from "../parser/go-quote.js";
import { type Node, nodeArgs } from "../parser/node.js";
import { type ParseResult, pointAt } from "../parser/parser.js";
import { parseGoDuration } from "./duration.js";
import { fail, InstructionError } from "./errors.js";
import { createFlagSet } from "./flags.js";
import * as P from "./parse-commands.js";
import { errAtLeastOneArgument, type ParseRequest } from "./request.js";
import { withSuggestion } from "./suggest.js";
import type { ArgCommand, Command, CommandLocation, HealthCheckCommand, Stage, Stages } from "./types.js";

const PARSERS: Readonly<Record<string, (req: ParseRequest) => Command | Stage>> = {
  add: P.parseAdd,
  arg: P.parseArg,
  cmd: P.parseCmd,
  copy: P.parseCopy,
  entrypoint: P.parseEntrypoint,
  env: P.parseEnv,
  expose: P.parseExpose,
  from: P.parseFrom,
  healthcheck: parseHealthcheck,
  label: P.parseLabel,
  maintainer: P.parseMaintainer,
  onbuild: P.parseOnbuild,
  run: P.parseRun,
  shell: P.parseShell,
  stopsignal: P.parseStopSignal,
  user: P.parseUser,
  volume: P.parseVolume,
  workdir: P.parseWorkdir,
};

export const INSTRUCTION_NAMES: readonly string[] = Object.keys(PARSERS).map((k) => k.toUpperCase());

/** Durations below 1ms (other than 0) are rejected, like Docker. */
function interval(flag: string, value: string | undefined): number {
  if (value === undefined || value === "") return 0;
  const ns = parseGoDuration(value);
  if (ns !== 0 && ns < 1_000_000) fail(`Interval ${goQuote(flag)} cannot be less than 1ms`);
  return ns;
}

function parseHealthcheck(req: ParseRequest): HealthCheckCommand {
  if (req.args.length === 0) fail(errAtLeastOneArgument("HEALTHCHECK"));
  const type = (req.args[0] as string).toUpperCase();
  const args = req.args.slice(1);
  const base = { kind: "HEALTHCHECK" as const, location: req.location, original: req.original };
  if (type === "NONE") {
    // BuildKit does not look at flags here; NONE only disables an inherited check.
    if (args.length !== 0) fail("HEALTHCHECK NONE takes no arguments");
    return {
      ...base,
      health: { test: ["NONE"], interval: 0, timeout: 0, startPeriod: 0, startInterval: 0, retries: 0 },
    };
  }
  const flags = {
    interval: req.flags.addString("interval"),
    timeout: req.flags.addString("timeout"),
    startPeriod: req.flags.addString("start-period"),
    startInterval: req.flags.addString("start-interval"),
    retries: req.flags.addString("retries"),
  };
  req.flags.parse();
  if (type !== "CMD") fail(`Unknown type ${goQuote(type)} in HEALTHCHECK (try CMD)`);
  const cmd = req.json ? args : args.length === 0 ? [] : [args.join(" ")];
  if (cmd.length === 0) fail("Missing command after HEALTHCHECK CMD");
  let retries = 0;
  const retriesText = flags.retries();
  if (retriesText) {
    if (!/^[+-]?\d+$/.test(retriesText))
      fail(`strconv.ParseInt: parsing ${goQuote(retriesText)}: invalid syntax`);
    retries = Number.parseInt(retriesText, 10);
    if (retries > 2 ** 31 - 1 || retries < -(2 ** 31)) {
      fail(`strconv.ParseInt: parsing ${goQuote(retriesText)}: value out of range`);
    }
    if (retries < 0) fail(`--retries cannot be negative (${retries})`);
  }
  return {
    ...base,
    health: {
      test: [req.json ? "CMD" : "CMD-SHELL", ...cmd],
      interval: interval("interval", flags.interval()),
      timeout: interval("timeout", flags.timeout()),
      startPeriod: interval("start-period", flags.startPeriod()),
      startInterval: interval("start-interval", flags.startInterval()),
      retries,
    },
  };
}

function locationOf(node: Node, file: string, sourceLines: readonly string[]): CommandLocation {
  const line = Math.max(1, node.startLine);
  const text = sourceLines[line - 1];
  return {
    file,
    line,
    endLine: Math.max(1, node.endLine),
    instruction: node.value,
    ...(text !== undefined ? { text } : {}),
  };
}

/**
 * The location of a parse error: the physical line holding `needle` (a flag may sit on a
 * continuation line) and its column, else the instruction keyword's.
 */
function errorLocation(
  location: CommandLocation,
  sourceLines: readonly string[],
  needle: string | undefined,
): CommandLocation {
  if (sourceLines.length === 0) return location;
  if (needle) {
    for (let line = location.line; line <= location.endLine; line++) {
      if (sourceLines[line - 1]?.includes(needle))
        return { ...location, line, ...pointAt(sourceLines, line, needle) };
    }
  }
  return { ...location, ...pointAt(sourceLines, location.line) };
}

/**
 * Turns an error raised while reading an instruction (an InstructionError from a sub-parser, or a
 * KilnError without location) into a KilnError at `location`; other errors pass through unchanged.
 */
export function toKilnError(
  err: unknown,
  location: CommandLocation,
  sourceLines: readonly string[],
): KilnError {
  if (err instanceof InstructionError) {
    return new KilnError("INVALID_ARGUMENT", err.message, {
      location: errorLocation(location, sourceLines, err.needle),
      ...(err.hint ? { hint: err.hint } : {}),
    });
  }
  if (err instanceof KilnError && !err.location) {
    return new KilnError(err.code, err.message, {
      location: errorLocation(location, sourceLines, undefined),
      cause: err,
      ...(err.hint ? { hint: err.hint } : {}),
    });
  }
  return err as KilnError;
}

/**
 * Parses one instruction node (a child of the AST root). FROM yields a `Stage` without commands.
 * With the file's `sourceLines` (from `parse`), locations carry the source text and errors a column.
 */
export function parseInstruction(
  node: Node,
  file = "Dockerfile",
  sourceLines: readonly string[] = [],
): Command | Stage {
  const location = locationOf(node, file, sourceLines);
  const parser = PARSERS[node.value.toLowerCase()];
  try {
    if (!parser || !Object.hasOwn(PARSERS, node.value.toLowerCase())) {
      const { message, hint } = withSuggestion(
        `unknown instruction: ${node.value}`,
        node.value,
        INSTRUCTION_NAMES,
        false,
      );
      fail(message, hint);
    }
    return parser({
      command: node.value,
      args: nodeArgs(node),
      heredocs: node.heredocs,
      json: node.attributes.json === true,
      original: node.original.trim(),
      rawOriginal: node.original,
      flags: createFlagSet(node.flags),
      location,
      comments: node.prevComment,
    });
  } catch (err) {
    throw toKilnError(err, location, sourceLines);
  }
}

/**
 * Groups instructions into stages. ARGs before the first FROM are `metaArgs`; any other
 * instruction before the first FROM is an error.
 */
export function parseStages(input: ParseResult | Node, options: { file?: string } = {}): Stages {
  const ast = "ast" in input ? input.ast : input;
  const file = options.file ?? ("ast" in input ? input.file : "Dockerfile");
  const sourceLines = "ast" in input ? input.sourceLines : [];
  const metaArgs: ArgCommand[] = [];
  const stages: Stage[] = [];
  for (const child of ast.children) {
    const cmd = parseInstruction(child, file, sourceLines);
    if (cmd.kind === "FROM") {
      stages.push(cmd);
    } else if (stages.length === 0) {
      if (cmd.kind !== "ARG") {
        throw new KilnError("INVALID_ARGUMENT", "no build stage in current context", {
          location: errorLocation(cmd.location, sourceLines, undefined),
          hint: "start the Dockerfile with FROM (only ARG may come before the first FROM)",
        });
      }
      metaArgs.push(cmd);
    } else {
      (stages[stages.length - 1] as Stage).commands.push(cmd);
    }
  }
  return { metaArgs, stages };
}
