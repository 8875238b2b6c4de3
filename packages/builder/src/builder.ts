import { join, resolve } from "node:path";
import type { CacheModules, CacheSpec } from "@kiln/cache";
import {
  type CacheGraph,
  type CallOptions,
  type Executor,
  type Frontend,
  hostPlatform,
  type ImageConfig,
  KilnError,
  type Platform,
  type ProgressWriter,
  type Ref,
} from "@kiln/core";
import { createRuncExecutor } from "@kiln/executor";
import { exporterFor } from "@kiln/exporter-oci";
import { createDockerfileFrontend } from "@kiln/frontend-dockerfile";
import { parseGitRef } from "@kiln/llb";
import {
  createDockerCredentialStore,
  createRegistryClient,
  type RegistryClient,
  type RegistryConfig,
} from "@kiln/registry";
import { createSolver, vertexGraph } from "@kiln/solver";
import { createBridge } from "./bridge.js";
import { readBuildFiles } from "./build-files.js";
import { findExecutable, readSecret, stateSolver, withLocation } from "./build-helpers.js";
import { createImageResolver } from "./image-resolver.js";
import { materializingResolver } from "./ops/lazy-inputs.js";
import { createOpResolver } from "./ops/resolver.js";
import type { OpEnvironment } from "./ops/types.js";
import { type Entitlement, preflight } from "./preflight.js";
import { isPushOnly, mountingPusher, pushView } from "./push.js";
import { type BuildCaches, prepareBuildCaches } from "./remote-cache.js";
import { openSshAgents, type SshSource } from "./ssh/agents.js";
import { defaultRoot, type LocalStore, openLocalStore, type SnapshotterChoice } from "./store.js";

export interface BuilderOptions {
  /** Store directory; default `$XDG_DATA_HOME/kiln` (root: `/var/lib/kiln`). */
  readonly root?: string;
  /** Maximum number of steps executed at once; default: the CPU count. */
  readonly parallelism?: number;
  readonly frontend?: Frontend;
  /** Runs RUN steps; default: runc (or `ociRuntime`) through `@kiln/executor` when it is installed. */
  readonly executor?: Executor;
  /** `overlay`, `native` (copies; works everywhere) or `auto` (default: overlay where supported). */
  readonly snapshotter?: SnapshotterChoice;
  /** Registry client for FROM of registry images and push; default: Docker credentials + `registryConfig`. */
  readonly registry?: RegistryClient;
  /** `[registry."host"]` settings (kiln.toml): plain HTTP, TLS, CA files, mirrors. */
  readonly registryConfig?: RegistryConfig;
  /** OCI runtime for the default executor: `runc` (default), `crun`, or a path. */
  readonly ociRuntime?: string;
  /**
   * Remote cache backend modules by type, added to the built-in `local` (e.g. `registry` from
   * `@kiln/cache-registry`); `--cache-to`/`--cache-from` entries are resolved against this table.
   */
  readonly caches?: CacheModules;
}

export interface OutputSpec {
  readonly type: string;
  readonly attrs: Readonly<Record<string, string>>;
}

export interface BuildRequest {
  readonly contextDir: string;
  /**
   * A git reference or http(s) URL used as the main context instead of `contextDir` (buildx
   * `build <URL>`); `dockerfile` is then a path inside it. An http(s) file that is not an archive is
   * the Dockerfile itself.
   */
  readonly contextUrl?: string;
  /** Dockerfile path; default `<contextDir>/Dockerfile`. */
  readonly dockerfile?: string;
  readonly target?: string;
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** buildx `--build-context name=value`. */
  readonly buildContexts?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly outputs?: readonly OutputSpec[];
  readonly tags?: readonly string[];
  readonly noCache?: boolean;
  readonly platform?: Platform;
  readonly progress?: ProgressWriter;
  /** `--secret`: values by id, read only when a step needs them. */
  readonly secrets?: Readonly<Record<string, SecretSource>>;
  /** `--ssh`: agent sockets or key files by id (`default` when RUN --mount=type=ssh names none). */
  readonly ssh?: Readonly<Record<string, SshSource>>;
  /** `--allow`: entitlements granted to the build (`security.insecure`, `network.host`). */
  readonly allow?: readonly Entitlement[];
  /** `--cache-to` (`--export-cache`): where to write this build's cache; `type=inline` embeds it in the image. */
  readonly cacheTo?: readonly CacheSpec[];
  /** `--cache-from` (`--import-cache`): caches consulted by every step that misses locally. */
  readonly cacheFrom?: readonly CacheSpec[];
}

/** Where a secret comes from: a file, an environment variable, or bytes. */
export type SecretSource =
  | { readonly file: string }
  | { readonly env: string }
  | { readonly value: Uint8Array };

export interface Builder {
  build(req: BuildRequest, o?: CallOptions): Promise<Record<string, string>>;
  /**
   * The Dockerfile (and ignore file) a build of `req` would read, without building: from the context
   * directory, or from a remote context (`contextUrl`, solved and cached like in a build). For
   * `--call=check|outline|targets`.
   */
  readBuildFile(
    req: Pick<
      BuildRequest,
      "contextDir" | "contextUrl" | "dockerfile" | "buildArgs" | "secrets" | "platform" | "progress"
    >,
    o?: CallOptions,
  ): Promise<{ name: string; data: Uint8Array; ignoreFile?: Uint8Array }>;
  /**
   * Looks up an image's config without pulling layers (for `--call=check|outline`): `ref` is
   * `docker-image://<name>`, a plain image name or `oci-layout://<path>[:tag|@digest]`. Registry
   * manifests and configs are kept in the store, so a digest seen before needs no network.
   */
  resolveImageConfig(ref: string, platform: Platform, o?: CallOptions): Promise<ImageConfig>;
  /** Removes every cache record and snapshot. */
  prune(o?: CallOptions): Promise<{ removed: number }>;
  close(): Promise<void>;
}

export function createBuilder(options: BuilderOptions = {}): Builder {
  const root = resolve(options.root ?? defaultRoot());
  const frontend = options.frontend ?? createDockerfileFrontend();
  let storePromise: Promise<LocalStore> | undefined;
  let registry = options.registry;
  const registryClient = () =>
    (registry ??= createRegistryClient({
      auth: createDockerCredentialStore(),
      ...(options.registryConfig ? { config: options.registryConfig } : {}),
    }));
  const runtime = options.ociRuntime ?? "runc";
  const executor =
    options.executor ??
    (findExecutable(runtime) ? createRuncExecutor({ root: join(root, "executor"), runtime }) : undefined);
  const store = (o?: CallOptions) => {
    storePromise ??= openLocalStore(root, {
      ...o,
      ...(options.snapshotter ? { snapshotter: options.snapshotter } : {}),
    });
    return storePromise;
  };

  const opEnvironment = (
    s: LocalStore,
    ociStores: Map<string, string>,
    secrets: BuildRequest["secrets"],
  ): OpEnvironment & { localDirs: Map<string, string> } => ({
    refs: s.refs,
    content: s.content,
    fileDigests: s.fileDigests,
    localDirs: new Map<string, string>(),
    ociStores,
    storeRoot: s.root,
    secret: (id: string) => readSecret(secrets?.[id]),
    ...(executor ? { executor } : {}),
    registry: registryClient(),
  });
  const solverWith = (e: OpEnvironment, cache: LocalStore["results"]) =>
    createSolver<Ref>({
      resolveOp: materializingResolver(createOpResolver(e)),
      cache,
      ...(options.parallelism ? { parallelism: options.parallelism } : {}),
    });

  async function build(req: BuildRequest, o: CallOptions = {}): Promise<Record<string, string>> {
    const opened: BuildCaches[] = [];
    try {
      return await buildOnce(req, o, opened);
    } finally {
      // Remote cache stores (HTTP agents, SDK clients) live for one build.
      for (const caches of opened) await caches.close();
    }
  }

  async function buildOnce(
    req: BuildRequest,
    o: CallOptions,
    opened: BuildCaches[],
  ): Promise<Record<string, string>> {
    const progress = req.progress ?? { write() {} };
    const platform = req.platform ?? hostPlatform();
    const s = await store(o);
    // Cache flags are checked before anything else runs: a typo fails at once, not after the build.
    const caches = prepareBuildCaches(
      s,
      req,
      options.caches,
      (message) => progress.write({ type: "warning", message, time: Date.now() }),
      { ...o, progress },
      { registryClient: registryClient() },
    );
    opened.push(caches);
    const images = createImageResolver({ content: s.content, registry: registryClient() });
    const bridge = createBridge(progress, images);
    const env = {
      ...opEnvironment(s, bridge.ociStores, req.secrets),
      ...(caches.cacheMounts ? { cacheMounts: caches.cacheMounts } : {}),
    };
    const solverFor = (e: OpEnvironment) => solverWith(e, caches.results);
    // A remote context is solved before the frontend runs: its Dockerfile lives in it.
    const files = await readBuildFiles(req, stateSolver(solverFor(env), platform, progress), o);
    const { file, ignoreFile } = files;
    const localDirs = env.localDirs;
    for (const [name, dir] of files.localDirs) localDirs.set(name, dir);
    const attrs: Record<string, string> = { ...files.attrs, filename: file.name };
    if (req.target) attrs.target = req.target;
    if (req.noCache) attrs["no-cache"] = "";
    for (const [k, v] of Object.entries(req.buildArgs ?? {})) attrs[`build-arg:${k}`] = v;
    for (const [k, v] of Object.entries(req.labels ?? {})) attrs[`label:${k}`] = v;
    for (const [name, value] of Object.entries(req.buildContexts ?? {})) {
      // Like buildx: URLs (oci-layout://, docker-image://, https://, git://) and git references such as
      // git@host:repo.git go to the frontend as they are; anything else is a local directory.
      if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !parseGitRef(value)) {
        localDirs.set(name, resolve(value));
        attrs[`context:${name}`] = `local:${name}`;
      } else attrs[`context:${name}`] = value;
    }

    const solved = await frontend.solve(
      { attrs, file, ...(ignoreFile ? { ignoreFile } : {}), platform, bridge },
      o,
    );
    preflight({
      definition: solved.definition,
      locations: solved.locations,
      allow: req.allow ?? [],
      secretIds: new Set(Object.keys(req.secrets ?? {})),
      sshIds: new Set(Object.keys(req.ssh ?? {})),
    });
    const ssh = req.ssh && Object.keys(req.ssh).length > 0 ? await openSshAgents(req.ssh) : undefined;
    const solver = solverFor({ ...env, ...(ssh ? { ssh } : {}) });
    let result: Ref = s.refs.empty;
    let cacheGraph: CacheGraph<Ref> = { byKey: new Map(), root: [] };
    try {
      // A target with no filesystem op (FROM scratch plus metadata) is the empty tree, as in BuildKit.
      if (solved.definition.def.length > 0)
        ({ result, cacheGraph } = await solver.solve(vertexGraph(solved.definition), {
          progress,
          ...(o.signal ? { signal: o.signal } : {}),
          ...(req.noCache ? { noCache: true } : {}),
        }));
    } catch (err) {
      throw withLocation(err, solved.locations);
    } finally {
      s.fileDigests.flush();
      await ssh?.close();
    }
    if ("directory" in result) {
      throw new KilnError("FAILED_PRECONDITION", "the build result is a local directory, not an image");
    }

    const response: Record<string, string> = {};
    if (!req.outputs?.length) {
      bridge.warn(
        "no output specified: the build result will only remain in the build cache (use -o/--output)",
      );
    }
    // The cache export runs beside the outputs (a push and a cache upload overlap, as in BuildKit):
    // both only read committed results, and each blob store de-duplicates its own uploads.
    const cacheExport = caches.exportAll(cacheGraph, o);
    const writeOutputs = async () => {
      const imageConfig = await caches.withInlineCache(solved.config, cacheGraph, o);
      const pusher = mountingPusher(registryClient(), images, caches.registrySources);
      for (const output of req.outputs ?? []) {
        // A push of an imported result leaves its layers remote (mounted from the cache repository).
        const view = isPushOnly(output)
          ? pushView(result, s.content, (layer, lo) => caches.openRemote(layer, lo))
          : { ref: result, content: s.content };
        const exporter = exporterFor(output.type, { content: view.content, registry: pusher });
        Object.assign(
          response,
          await exporter.export(
            {
              ref: view.ref,
              config: imageConfig,
              platform,
              names: req.tags ?? [],
              attrs: output.attrs,
              progress,
            },
            o,
          ),
        );
      }
    };
    // allSettled: a failing output must not leave the export running unobserved after build() returns.
    const [outputs, exported] = await Promise.allSettled([writeOutputs(), cacheExport]);
    if (outputs.status === "rejected") throw outputs.reason;
    if (exported.status === "rejected") throw exported.reason;
    Object.assign(response, exported.value);
    return response;
  }

  return {
    build,
    async readBuildFile(req, o = {}) {
      const progress = req.progress ?? { write() {} };
      const needsStore = req.contextUrl !== undefined;
      const solve = needsStore
        ? stateSolver(
            solverWith(opEnvironment(await store(o), new Map(), req.secrets), (await store(o)).results),
            req.platform ?? hostPlatform(),
            progress,
          )
        : () => Promise.reject(new KilnError("INTERNAL", "a local context needs no solve"));
      const files = await readBuildFiles(req, solve, o);
      return { ...files.file, ...(files.ignoreFile ? { ignoreFile: files.ignoreFile } : {}) };
    },
    async resolveImageConfig(ref, platform, o = {}) {
      const bridge = ref.startsWith("oci-layout://")
        ? createBridge({ write() {} })
        : createBridge(
            { write() {} },
            createImageResolver({ content: (await store(o)).content, registry: registryClient() }),
          );
      return (await bridge.resolveImage(ref, platform, o)).config;
    },
    async prune(o) {
      const s = await store(o);
      s.metadata.clear();
      // Every committed snapshot goes, also ones a crash left without a ref; children before parents.
      const committed: { name: string; created: number }[] = [];
      await s.snapshotter.walk((info) => {
        if (info.kind === "committed") committed.push({ name: info.name, created: info.created.getTime() });
      }, o);
      committed.sort((a, b) => b.created - a.created);
      let removed = 0;
      for (const { name } of committed) {
        await s.snapshotter.remove(name, o).then(
          () => removed++,
          () => {},
        );
      }
      return { removed };
    },
    async close() {
      await registry?.close();
      if (storePromise) await (await storePromise).close();
    },
  };
}
