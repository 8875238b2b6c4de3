import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { isRemoteContext } from "@kiln/builder";
import { hostPlatform, KilnError, type Platform, parsePlatform } from "@kiln/core";
import {
  type CheckWarning,
  checkDockerfile,
  type ImageConfigLookup,
  listTargets,
  lookupBaseImages,
  type Outline,
  outlineDockerfile,
} from "@kiln/frontend-dockerfile";
import { parseBuildContexts, parseKeyValues } from "./parse-flags.js";

export interface CallFlags {
  file?: string;
  target?: string;
  buildArg?: readonly string[];
  buildContext?: readonly string[];
  platform?: string;
}

type Format = "text" | "json";

/**
 * `kiln build --call=check|outline|targets[,format=json]` (and `--check`): answers without
 * building — like buildx's subrequests. `check` and `outline` look the base images up through
 * `lookup` (configs only: ENV, SHELL, ONBUILD, platform); `targets` needs the Dockerfile alone.
 * Returns the exit code: `check` fails when it found warnings, as buildx does.
 */
export async function runCall(
  call: string,
  context: string,
  flags: CallFlags,
  out: { write(s: string): unknown } = process.stdout,
  deps: {
    /** Looks base images up (configs only) for `check` and `outline`. */
    readonly lookup?: ImageConfigLookup;
    /** Reads the Dockerfile and ignore file (a remote or stdin context); default: from `context`. */
    readonly readBuildFile?: () => Promise<{ name: string; data: Uint8Array; ignoreFile?: Uint8Array }>;
  } = {},
): Promise<number> {
  const { name, format } = parseCall(call);
  const { lookup } = deps;
  const read = deps.readBuildFile ? await deps.readBuildFile() : undefined;
  const path = read?.name ?? resolve(flags.file ?? join(context, "Dockerfile"));
  const data = read?.data ?? (await readDockerfile(path));
  const attrs: Record<string, string> = {};
  if (flags.target) attrs.target = flags.target;
  for (const [k, v] of Object.entries(parseKeyValues(flags.buildArg ?? [], "--build-arg", process.env))) {
    attrs[`build-arg:${k}`] = v;
  }
  for (const [ctxName, value] of Object.entries(parseBuildContexts(flags.buildContext ?? []))) {
    // As in a build: URLs and git references as they are, anything else a local directory.
    const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) || isRemoteContext(value);
    attrs[`context:${ctxName}`] = isUrl ? value : `local:${ctxName}`;
  }
  const platform: Platform | undefined = flags.platform ? parsePlatform(flags.platform) : undefined;
  const file = { name: path, data };
  const baseImages = (which: "all" | "target") =>
    lookup
      ? lookupBaseImages({ file, attrs, platform: platform ?? hostPlatform() }, which, lookup)
      : undefined;

  if (name === "targets") {
    const targets = listTargets({ name: path, data });
    if (format === "json") {
      out.write(`${JSON.stringify({ targets }, null, 2)}\n`);
      return 0;
    }
    const rows = targets.map((t) => [`${t.name}${t.isDefault ? " (default)" : ""}`, t.description ?? ""]);
    out.write(table([["TARGET", "DESCRIPTION"], ...rows], 1));
    return 0;
  }
  if (name === "outline") {
    const outline = outlineDockerfile(file, attrs, platform ?? hostPlatform(), await baseImages("target"));
    out.write(format === "json" ? `${JSON.stringify(outline, null, 2)}\n` : formatOutline(outline));
    return 0;
  }
  if (name === "check") {
    const ignoreFile = read
      ? read.ignoreFile
      : ((await readOptional(`${path}.dockerignore`)) ??
        (await readOptional(join(context, ".dockerignore"))));
    const images = await baseImages("all");
    const warnings = checkDockerfile({
      attrs,
      file,
      ...(ignoreFile ? { ignoreFile } : {}),
      ...(platform ? { platform } : {}),
      ...(images ? { baseImages: images } : {}),
    });
    if (format === "json") out.write(`${JSON.stringify({ warnings }, null, 2)}\n`);
    else out.write(formatCheck(warnings, new TextDecoder().decode(data)));
    return warnings.length === 0 ? 0 : 1;
  }
  throw new KilnError("INVALID_ARGUMENT", `--call: unknown request ${JSON.stringify(name)}`, {
    hint: "kiln supports --call=build (default), check, outline and targets (add ,format=json for JSON)",
  });
}

/** buildx's `--call` value: `name[,format=text|json]`. */
export function parseCall(value: string): { name: string; format: Format } {
  const [name = "", ...opts] = value.split(",").map((s) => s.trim());
  let format: Format = "text";
  for (const opt of opts) {
    const [key, v] = opt.split("=", 2);
    if (key === "format" && (v === "json" || v === "text")) format = v;
    else throw new KilnError("INVALID_ARGUMENT", `--call: unknown option ${JSON.stringify(opt)}`);
  }
  return { name: name.toLowerCase(), format };
}

async function readDockerfile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new KilnError("NOT_FOUND", `cannot read Dockerfile ${path}`, { cause });
  }
}

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return await readFile(path);
  } catch {
    return undefined;
  }
}

/**
 * buildx's check output: the count first, then each warning with its rule URL, message and the
 * source snippet; "no warnings found" when clean.
 */
export function formatCheck(warnings: readonly CheckWarning[], source: string): string {
  const n = warnings.length;
  if (n === 0) return "Check complete, no warnings found.\n";
  const lines = source.split("\n");
  let text = `Check complete, ${n === 1 ? "1 warning has" : `${n} warnings have`} been found!\n`;
  for (const w of warnings) {
    text += `\nWARNING: ${w.rule}${w.url ? ` - ${w.url}` : ""}\n${w.detail}\n`;
    text += sourceSnippet(w.location.file, lines, w.location.line);
  }
  return text;
}

/** BuildKit's source print: the line marked `>>>` with up to two lines of context on each side. */
function sourceSnippet(file: string, lines: readonly string[], line: number): string {
  if (line < 1 || line > lines.length) return "";
  const start = Math.max(1, line - 2);
  const end = Math.min(lines.length, line + 2);
  let text = `${file}:${line}\n--------------------\n`;
  for (let i = start; i <= end; i++) {
    text += ` ${String(i).padStart(3)} | ${i === line ? ">>>" : "   "} ${lines[i - 1] ?? ""}\n`;
  }
  return `${text}--------------------\n`;
}

/** buildx's outline text: the target, then tables of build args, secrets and SSH ids. */
export function formatOutline(o: Outline): string {
  let text = "";
  if (o.name !== undefined || o.description !== undefined) {
    const rows = [["TARGET:", o.name ?? "(default)"]];
    if (o.description) rows.push(["DESCRIPTION:", o.description]);
    text += `${table(rows, 1)}\n`;
  }
  if (o.args.length > 0) {
    text += `${table([["BUILD ARG", "VALUE", "DESCRIPTION"], ...o.args.map((a) => [a.name, a.value ?? "", a.description ?? ""])], 3)}\n`;
  }
  if (o.secrets.length > 0) {
    text += `${table([["SECRET", "REQUIRED"], ...o.secrets.map((s) => [s.name, s.required ? "true" : ""])], 3)}\n`;
  }
  if (o.ssh.length > 0) {
    text += `${table([["SSH", "REQUIRED"], ...o.ssh.map((s) => [s.name, s.required ? "true" : ""])], 3)}\n`;
  }
  return text;
}

/** Go's tabwriter: every column but the last padded to its widest cell plus `padding`. */
function table(rows: readonly string[][], padding: number): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i < row.length - 1 ? cell.padEnd((widths[i] ?? 0) + padding) : cell))
        .join("")
        .trimEnd(),
    )
    .map((l) => `${l}\n`)
    .join("");
}
