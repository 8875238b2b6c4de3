import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { type Builder, ENTITLEMENTS, isRemoteContext } from "@kiln/builder";
import { KilnError, parsePlatform } from "@kiln/core";
import {
  parseAllow,
  parseBuildContexts,
  parseCacheSpec,
  parseKeyValues,
  parseOutput,
  parseSecrets,
  parseSsh,
} from "./parse-flags.js";
import { createRenderer, type ProgressMode } from "./progress/renderers.js";
import { readStdinContext } from "./stdin-context.js";

export interface BuildFlags {
  file?: string;
  tag: string[];
  target?: string;
  buildArg: string[];
  buildContext: string[];
  label: string[];
  output: string[];
  platform?: string;
  progress: string;
  cache: boolean;
  iidfile?: string;
  metadataFile?: string;
  push?: boolean;
  secret: string[];
  ssh: string[];
  allow: string[];
  call?: string;
  check?: boolean;
  load?: boolean;
  cacheTo: string[];
  cacheFrom: string[];
  exportCache: string[];
  importCache: string[];
}

const PROGRESS_MODES = new Set(["auto", "tty", "plain", "rawjson", "quiet"]);

export async function runBuild(
  builder: Builder,
  context: string,
  flags: BuildFlags,
  signal: AbortSignal,
): Promise<void> {
  if (!PROGRESS_MODES.has(flags.progress)) {
    throw new Error(
      `--progress: unknown mode ${JSON.stringify(flags.progress)} (auto, tty, plain, rawjson, quiet)`,
    );
  }
  if (flags.load) {
    throw new KilnError("INVALID_ARGUMENT", "--load needs a Docker daemon, which kiln does not use", {
      hint: "write a docker archive with -o type=docker,dest=image.tar and run docker load -i image.tar",
    });
  }
  const outputs = flags.output.map(parseOutput);
  const cacheTo = [
    ...flags.cacheTo.map((v) => parseCacheSpec(v, "--cache-to")),
    ...flags.exportCache.map((v) => parseCacheSpec(v, "--export-cache")),
  ];
  const cacheFrom = [
    ...flags.cacheFrom.map((v) => parseCacheSpec(v, "--cache-from")),
    ...flags.importCache.map((v) => parseCacheSpec(v, "--import-cache")),
  ];
  if (flags.push) outputs.push({ type: "registry", attrs: {} });
  const source = await contextSource(context, flags.file);
  const { contextDir, contextUrl, dockerfile } = source;
  const renderer = createRenderer(flags.progress as ProgressMode);
  let response: Record<string, string>;
  try {
    response = await builder.build(
      {
        contextDir,
        ...(contextUrl ? { contextUrl } : {}),
        ...(dockerfile ? { dockerfile } : {}),
        ...(flags.target ? { target: flags.target } : {}),
        buildArgs: parseKeyValues(flags.buildArg, "--build-arg", process.env),
        buildContexts: parseBuildContexts(flags.buildContext),
        labels: parseKeyValues(flags.label, "--label"),
        outputs,
        secrets: parseSecrets(flags.secret, process.env),
        ssh: parseSsh(flags.ssh, process.env),
        allow: parseAllow(flags.allow, ENTITLEMENTS),
        tags: flags.tag,
        noCache: !flags.cache,
        cacheTo,
        cacheFrom,
        ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
        progress: renderer,
      },
      { signal },
    );
  } finally {
    renderer.done();
    await source.cleanup();
  }
  if (flags.iidfile) {
    const id = response["containerimage.config.digest"] ?? response["containerimage.digest"] ?? "";
    await writeFile(flags.iidfile, id);
  }
  if (flags.metadataFile)
    await writeFile(flags.metadataFile, `${JSON.stringify(metadataJson(response), null, 2)}\n`);
}

export interface ContextSource {
  readonly contextDir: string;
  readonly contextUrl: string | undefined;
  readonly dockerfile: string | undefined;
  cleanup(): Promise<void>;
}

/**
 * Where the build context and Dockerfile come from, as buildx reads the positional argument: `-`
 * (stdin), a git reference or http(s) URL (the context itself, `-f` a path inside it), else a directory.
 */
export async function contextSource(context: string, file: string | undefined): Promise<ContextSource> {
  const fromStdin = await readStdinContext(context, file, process.stdin);
  const contextUrl = !fromStdin && isRemoteContext(context) ? context : undefined;
  return {
    contextDir: fromStdin?.contextDir ?? resolve(contextUrl ? "." : context),
    contextUrl,
    dockerfile: fromStdin?.dockerfile ?? (contextUrl ? file : file && resolve(file)),
    cleanup: async () => fromStdin?.cleanup(),
  };
}

/** Like buildx: the response map, with `containerimage.descriptor` decoded into an object. */
function metadataJson(response: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...response };
  const descriptor = response["containerimage.descriptor"];
  if (descriptor)
    out["containerimage.descriptor"] = JSON.parse(Buffer.from(descriptor, "base64").toString("utf8"));
  const cacheManifest = response["cache.manifest"];
  if (cacheManifest) out["cache.manifest"] = JSON.parse(cacheManifest);
  return out;
}
