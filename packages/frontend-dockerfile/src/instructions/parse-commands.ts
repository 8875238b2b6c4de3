/**
 * One parser per instruction: declare the accepted flags, parse them, validate argument counts
 * and build the typed command. Error texts follow BuildKit's so users see familiar messages.
 */
import { goQuote } from "../parser/go-quote.js";
import { chompHeredocContent, tryParseHeredoc } from "../parser/heredoc.js";
import type { Heredoc } from "../parser/node.js";
import { fail } from "./errors.js";
import { literalMountFrom } from "./mount.js";
import { docComment, errAtLeastOneArgument, errExactlyOneArgument, type ParseRequest } from "./request.js";
import type * as T from "./types.js";

const base = (req: ParseRequest) => ({ location: req.location, original: req.original });

function parseKvps(args: readonly string[], command: string): T.KeyValuePair[] {
  if (args.length === 0) fail(errAtLeastOneArgument(command));
  if (args.length % 3 !== 0) fail(`Bad input to ${command}, too many arguments`);
  const pairs: T.KeyValuePair[] = [];
  for (let j = 0; j < args.length; j += 3) {
    const key = args[j] as string;
    if (key === "") fail(`${command} names can not be blank`);
    pairs.push({ key, value: args[j + 1] as string, noDelim: args[j + 2] === "" });
  }
  return pairs;
}

export function parseEnv(req: ParseRequest): T.EnvCommand {
  req.flags.parse();
  return { kind: "ENV", ...base(req), env: parseKvps(req.args, "ENV") };
}

export function parseLabel(req: ParseRequest): T.LabelCommand {
  req.flags.parse();
  return { kind: "LABEL", ...base(req), labels: parseKvps(req.args, "LABEL") };
}

export function parseMaintainer(req: ParseRequest): T.MaintainerCommand {
  if (req.args.length !== 1) fail(errExactlyOneArgument("MAINTAINER"));
  req.flags.parse();
  return { kind: "MAINTAINER", ...base(req), maintainer: req.args[0] as string };
}

/** Splits COPY/ADD arguments; heredoc markers become inline sources matched to their bodies. */
function requireDestination(req: ParseRequest, command: string): void {
  if (req.args.length < 2) {
    fail(
      `${command} requires at least two arguments, but only one was provided. Destination could not be determined`,
    );
  }
}

function parseSourcesAndDest(req: ParseRequest, command: string): T.SourcesAndDest {
  const destPath = req.args[req.args.length - 1] as string;
  if (tryParseHeredoc(destPath)) fail(`${command} cannot accept a heredoc as a destination`);
  const bodies = new Map<string, Heredoc>(req.heredocs.map((h) => [h.name, h]));
  const sourcePaths: string[] = [];
  const sourceContents: T.SourceContent[] = [];
  for (const src of req.args.slice(0, -1)) {
    const marker = tryParseHeredoc(src);
    if (!marker) {
      sourcePaths.push(src);
      continue;
    }
    const content = bodies.get(marker.name)?.content ?? "";
    sourceContents.push({
      path: marker.name,
      data: marker.chomp ? chompHeredocContent(content) : content,
      expand: marker.expand,
    });
  }
  return { sourcePaths, sourceContents, destPath };
}

export function parseAdd(req: ParseRequest): T.AddCommand {
  requireDestination(req, "ADD");
  const chown = req.flags.addString("chown");
  const chmod = req.flags.addString("chmod");
  const link = req.flags.addBool("link");
  const keepGitDir = req.flags.addBool("keep-git-dir");
  const checksum = req.flags.addString("checksum");
  const unpack = req.flags.addBool("unpack");
  const exclude = req.flags.addStrings("exclude");
  req.flags.parse();
  return {
    kind: "ADD",
    ...base(req),
    ...parseSourcesAndDest(req, "ADD"),
    chown: chown(),
    chmod: chmod(),
    link: link(),
    keepGitDir: req.flags.wasUsed("keep-git-dir") ? keepGitDir() : undefined,
    checksum: checksum(),
    unpack: req.flags.wasUsed("unpack") ? unpack() : undefined,
    excludePatterns: exclude(),
  };
}

export function parseCopy(req: ParseRequest): T.CopyCommand {
  requireDestination(req, "COPY");
  const chown = req.flags.addString("chown");
  const from = req.flags.addString("from");
  const chmod = req.flags.addString("chmod");
  const link = req.flags.addBool("link");
  const exclude = req.flags.addStrings("exclude");
  const parents = req.flags.addBool("parents");
  req.flags.parse();
  return {
    kind: "COPY",
    ...base(req),
    ...parseSourcesAndDest(req, "COPY"),
    from: from() || undefined,
    chown: chown(),
    chmod: chmod(),
    link: link(),
    parents: parents(),
    excludePatterns: exclude(),
  };
}

const STAGE_NAME = /^[a-z][a-z0-9\-_.]*$/;

export function parseFrom(req: ParseRequest): T.Stage {
  const args = req.args;
  let name: string | undefined;
  if (args.length === 3 && (args[1] as string).toLowerCase() === "as") {
    name = (args[2] as string).toLowerCase();
    if (!STAGE_NAME.test(name)) {
      fail(
        `invalid name for build stage: ${goQuote(args[2] as string)}, name can't start with a number or contain symbols`,
      );
    }
  } else if (args.length !== 1) {
    fail("FROM requires either one or three arguments");
  }
  const platform = req.flags.addString("platform");
  req.flags.parse();
  return {
    kind: "FROM",
    ...base(req),
    name,
    baseName: args[0] as string,
    platform: platform() || undefined,
    commands: [],
    comments: req.comments,
    docComment: name === undefined ? undefined : docComment(req.comments, name),
  };
}

export function parseOnbuild(req: ParseRequest): T.OnbuildCommand {
  if (req.args.length === 0) fail(errAtLeastOneArgument("ONBUILD"));
  req.flags.parse();
  const trigger = (req.args[0] as string).trim().toUpperCase();
  if (trigger === "ONBUILD") fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (trigger === "MAINTAINER" || trigger === "FROM") fail(`${trigger} isn't allowed as an ONBUILD trigger`);
  // The trigger is stored as text and re-parsed in child builds, so heredoc bodies are re-attached.
  let expression = req.rawOriginal.replace(/^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*/i, "");
  for (const h of req.heredocs) expression += `\n${h.content}${h.name}`;
  return { kind: "ONBUILD", ...base(req), expression, trigger };
}

export function parseWorkdir(req: ParseRequest): T.WorkdirCommand {
  if (req.args.length !== 1) fail(errExactlyOneArgument("WORKDIR"));
  req.flags.parse();
  return { kind: "WORKDIR", ...base(req), path: req.args[0] as string };
}

function shellDependant(req: ParseRequest, emptyAsUndefined: boolean): T.ShellDependantCmdLine {
  const args = req.json ? [...req.args] : req.args.length === 0 ? [] : [req.args.join(" ")];
  return {
    cmdLine: emptyAsUndefined && args.length === 0 ? undefined : args,
    files: req.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp })),
    prependShell: !req.json,
  };
}

export function parseRun(req: ParseRequest): T.RunCommand {
  const mounts = req.flags.addStrings("mount");
  const network = req.flags.addString("network");
  const security = req.flags.addString("security");
  req.flags.parse();
  const networkMode = network() ?? "default";
  if (!["default", "none", "host"].includes(networkMode))
    fail(`invalid network mode ${goQuote(networkMode)}`);
  const securityMode = security() ?? "sandbox";
  if (!["sandbox", "insecure"].includes(securityMode)) fail(`security ${goQuote(securityMode)} is not valid`);
  return {
    kind: "RUN",
    ...base(req),
    ...shellDependant(req, false),
    mounts: mounts().map((raw) => ({ raw, from: literalMountFrom(raw) })),
    network: networkMode as T.NetworkMode,
    security: securityMode as T.SecurityMode,
    flagsUsed: req.flags.used(),
  };
}

export function parseCmd(req: ParseRequest): T.CmdCommand {
  req.flags.parse();
  return { kind: "CMD", ...base(req), ...shellDependant(req, false) };
}

export function parseEntrypoint(req: ParseRequest): T.EntrypointCommand {
  req.flags.parse();
  return { kind: "ENTRYPOINT", ...base(req), ...shellDependant(req, true) };
}

export function parseExpose(req: ParseRequest): T.ExposeCommand {
  if (req.args.length === 0) fail(errAtLeastOneArgument("EXPOSE"));
  req.flags.parse();
  return { kind: "EXPOSE", ...base(req), ports: [...req.args].sort() };
}

export function parseUser(req: ParseRequest): T.UserCommand {
  if (req.args.length !== 1) fail(errExactlyOneArgument("USER"));
  req.flags.parse();
  return { kind: "USER", ...base(req), user: req.args[0] as string };
}

export function parseVolume(req: ParseRequest): T.VolumeCommand {
  if (req.args.length === 0) fail(errAtLeastOneArgument("VOLUME"));
  req.flags.parse();
  const volumes = req.args.map((v) => v.trim());
  if (volumes.includes("")) fail("VOLUME specified can not be an empty string");
  return { kind: "VOLUME", ...base(req), volumes };
}

export function parseStopSignal(req: ParseRequest): T.StopSignalCommand {
  if (req.args.length !== 1) fail(errExactlyOneArgument("STOPSIGNAL"));
  return { kind: "STOPSIGNAL", ...base(req), signal: req.args[0] as string };
}

export function parseArg(req: ParseRequest): T.ArgCommand {
  if (req.args.length === 0) fail(errAtLeastOneArgument("ARG"));
  const args = req.args.map((arg): T.ArgDefinition => {
    const eq = arg.indexOf("=");
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (eq === 0) fail("ARG names can not be blank");
    return { key, value: eq < 0 ? undefined : arg.slice(eq + 1), docComment: docComment(req.comments, key) };
  });
  return { kind: "ARG", ...base(req), args };
}

export function parseShell(req: ParseRequest): T.ShellCommand {
  req.flags.parse();
  if (req.args.length === 0) fail(errAtLeastOneArgument("SHELL"));
  if (!req.json) fail("SHELL requires the arguments to be in JSON form");
  return { kind: "SHELL", ...base(req), shell: [...req.args] };
}
