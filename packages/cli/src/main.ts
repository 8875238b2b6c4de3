import { createBuilder, type SnapshotterChoice } from "@kiln/builder";
import { isKilnError, KilnError, type Platform, redactCredentials } from "@kiln/core";
import { createDockerCredentialStore } from "@kiln/registry";
import { Command, Option } from "commander";
import { type BuildFlags, contextSource, runBuild } from "./build-command.js";
import { CACHE_BACKENDS } from "./cache-backends.js";
import { runCall } from "./call-command.js";
import { loadConfig } from "./config.js";
import { parseKeyValues } from "./parse-flags.js";
import { KILN_VERSION } from "./version.js";

const collect = (value: string, previous: string[]) => [...previous, value];

function rootOption() {
  return new Option(
    "--root <dir>",
    "store directory (default: $XDG_DATA_HOME/kiln, /var/lib/kiln for root)",
  ).env("KILN_ROOT");
}

const program = new Command("kiln")
  .description("kiln: a concurrent, cache-efficient OCI image builder")
  .version(KILN_VERSION, "-v, --version")
  .option(
    "--config <file>",
    'kiln.toml with [registry."host"] settings (default: /etc/kiln/kiln.toml for root)',
  )
  .showHelpAfterError();

const registryConfig = () => loadConfig(program.opts<{ config?: string }>().config).registry;

const controller = new AbortController();
let interrupted = 0;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    interrupted += 1;
    if (interrupted > 1) process.exit(130);
    controller.abort(new KilnError("CANCELED", `interrupted by ${sig}`));
  });
}

program
  .command("build")
  .description("build an image from a Dockerfile (docker buildx build flags)")
  .argument("[context]", "build context: a directory, a git or https URL, or - (stdin)", ".")
  .option("-f, --file <path>", "name of the Dockerfile (default: CONTEXT/Dockerfile)")
  .option("-t, --tag <name>", "name and optionally a tag (name:tag); repeatable", collect, [])
  .option("--target <stage>", "set the target build stage to build")
  .option("--build-arg <key=value>", "set build-time variables; repeatable", collect, [])
  .option(
    "--build-context <name=value>",
    "additional build contexts (e.g. name=oci-layout:///path:tag)",
    collect,
    [],
  )
  .option("--label <key=value>", "set metadata for an image; repeatable", collect, [])
  .option(
    "-o, --output <spec>",
    'output destination (format: "type=oci,dest=out.tar"); repeatable',
    collect,
    [],
  )
  .option(
    "--secret <spec>",
    "secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR; repeatable",
    collect,
    [],
  )
  .option(
    "--ssh <spec>",
    "SSH agent socket or keys for RUN --mount=type=ssh: default|<id>[=<socket>|<key>[,<key>]]; repeatable",
    collect,
    [],
  )
  .option(
    "--allow <entitlement>",
    "allow extra privileged entitlement: security.insecure, network.host; repeatable",
    collect,
    [],
  )
  .option(
    "--cache-to <spec>",
    "cache export destination (e.g. type=local,dest=DIR,mode=max; a bare value is a registry ref); repeatable",
    collect,
    [],
  )
  .option(
    "--cache-from <spec>",
    "cache import source (e.g. type=local,src=DIR; a bare value is a registry ref); repeatable",
    collect,
    [],
  )
  .addOption(
    new Option("--export-cache <spec>", "alias of --cache-to (buildctl)").argParser(collect).default([]),
  )
  .addOption(
    new Option("--import-cache <spec>", "alias of --cache-from (buildctl)").argParser(collect).default([]),
  )
  .option(
    "--call <request>",
    "what to run: build (default), check, outline, targets; add ,format=json for JSON",
    "build",
  )
  .option("--check", "shorthand for --call=check")
  .option("--push", "shorthand for --output=type=registry (push the image to its -t names)")
  .option("--load", "not supported: kiln has no Docker daemon to load into (use -o type=docker,dest=x.tar)")
  .option("--platform <platform>", "target platform (default: this machine's)")
  .option("--progress <mode>", "progress output: auto, tty, plain, rawjson, quiet", "auto")
  .option("--no-cache", "do not use cache when building the image")
  .option("--iidfile <file>", "write the image ID to a file")
  .option("--metadata-file <file>", "write build result metadata to a file")
  .addOption(rootOption())
  .addOption(
    new Option("--oci-runtime <name>", "OCI runtime for RUN steps: runc (default), crun, or a path").env(
      "KILN_OCI_RUNTIME",
    ),
  )
  .addOption(
    new Option("--snapshotter <name>", "snapshotter of a new store: auto, overlay or native")
      .choices(["auto", "overlay", "native"])
      .env("KILN_SNAPSHOTTER"),
  )
  .action(
    async (
      context: string,
      flags: BuildFlags & { root?: string; ociRuntime?: string; snapshotter?: SnapshotterChoice },
    ) => {
      const call = flags.check ? "check" : (flags.call ?? "build");
      const registry = registryConfig();
      const builder = createBuilder({
        caches: CACHE_BACKENDS,
        ...(registry ? { registryConfig: registry } : {}),
        ...(flags.root ? { root: flags.root } : {}),
        ...(flags.ociRuntime ? { ociRuntime: flags.ociRuntime } : {}),
        ...(flags.snapshotter ? { snapshotter: flags.snapshotter } : {}),
      });
      try {
        if (call.split(",")[0]?.trim().toLowerCase() !== "build") {
          // Subrequests look base images up (configs only, no layers), as BuildKit does.
          const lookup = (ref: string, platform: Platform) =>
            builder.resolveImageConfig(ref, platform, { signal: controller.signal });
          const source = await contextSource(context, flags.file);
          try {
            const readBuildFile = () =>
              builder.readBuildFile(
                {
                  contextDir: source.contextDir,
                  ...(source.contextUrl ? { contextUrl: source.contextUrl } : {}),
                  ...(source.dockerfile ? { dockerfile: source.dockerfile } : {}),
                  buildArgs: parseKeyValues(flags.buildArg, "--build-arg", process.env),
                },
                { signal: controller.signal },
              );
            process.exitCode = await runCall(call, source.contextDir, flags, process.stdout, {
              lookup,
              readBuildFile,
            });
          } finally {
            await source.cleanup();
          }
          return;
        }
        await runBuild(builder, context, flags, controller.signal);
      } finally {
        await builder.close();
      }
    },
  );

program
  .command("prune")
  .description("remove build cache")
  .option("-a, --all", "remove all cache records and snapshots")
  .option("-f, --force", "do not prompt for confirmation")
  .addOption(rootOption())
  .action(async (flags: { all?: boolean; root?: string }) => {
    const builder = createBuilder(flags.root ? { root: flags.root } : {});
    try {
      const { removed } = await builder.prune({ signal: controller.signal });
      process.stderr.write(`removed ${removed} snapshots\n`);
    } finally {
      await builder.close();
    }
  });

program
  .command("login")
  .description("log in to a registry (stores credentials in ~/.docker/config.json, like docker login)")
  .argument("[server]", "registry host", "docker.io")
  .requiredOption("-u, --username <user>", "user name")
  .option("-p, --password <password>", "password (prefer --password-stdin)")
  .option("--password-stdin", "read the password from standard input")
  .action(async (server: string, flags: { username: string; password?: string; passwordStdin?: boolean }) => {
    const password = flags.passwordStdin ? (await readStdin()).replace(/\r?\n$/, "") : flags.password;
    if (!password) throw new KilnError("INVALID_ARGUMENT", "a password is required (-p or --password-stdin)");
    const store = createDockerCredentialStore();
    await store.login(server, flags.username, password);
    process.stderr.write(`Login credentials for ${server} saved in ${store.configPath}\n`);
  });

program
  .command("logout")
  .description("remove the stored credentials of a registry")
  .argument("[server]", "registry host", "docker.io")
  .action(async (server: string) => {
    const removed = await createDockerCredentialStore().logout(server);
    process.stderr.write(
      removed ? `Removed login credentials for ${server}\n` : `Not logged in to ${server}\n`,
    );
  });

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`ERROR: ${redactCredentials(formatError(err))}\n`);
  process.exitCode = isKilnError(err, "CANCELED") ? 130 : 1;
}

function formatError(err: unknown): string {
  if (err instanceof KilnError) {
    const lines = [err.describe()];
    const tail = err.details?.logTail;
    if (Array.isArray(tail) && tail.length > 0) lines.push("------", ...tail.map((l) => ` > ${l}`), "------");
    if (typeof err.details?.logPath === "string") lines.push(`full log: ${err.details.logPath}`);
    return lines.join("\n");
  }
  return err instanceof Error ? err.message : String(err);
}
