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
  const fromStdin = await readStdinContext(context, flags.file, process.stdin);
  // buildx: a git reference or an http(s) URL is the context itself, -f a path inside it.
  const contextUrl = !fromStdin && isRemoteContext(context) ? context : undefined;
  const contextDir = fromStdin?.contextDir ?? resolve(contextUrl ? "." : context);
  const dockerfile = fromStdin?.dockerfile ?? (contextUrl ? flags.file : flags.file && resolve(flags.file));
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
    await fromStdin?.cleanup();
  }
  if (flags.iidfile) {
    const id = response["containerimage.config.digest"] ?? response["containerimage.digest"] ?? "";
    await writeFile(flags.iidfile, id);
  }
  if (flags.metadataFile)
    await writeFile(flags.metadataFile, `${JSON.stringify(metadataJson(response), null, 2)}\n`);
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
