import { mkdir, realpath, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import {
  type CallOptions,
  type ExecMount,
  type ExecRequest,
  type Executor,
  KilnError,
  throwIfAborted,
} from "@kiln/core";
import { cleanupStaleWith, executorPaths, newContainerId, type StaleCleanup } from "./cleanup.js";
import { DEFAULT_HOSTNAME, writeEtcFiles } from "./hosts.js";
import { isReadonly, mountAll, singleBind, unmountUnder } from "./mounts.js";
import { deleteContainer, findRuntime, hasState, type Runtime, runContainer } from "./runc.js";
import {
  type ContainerView,
  mkdirInContainer,
  resolveInContainer,
  splitPath,
  type ViewMount,
} from "./safe-path.js";
import { buildSpec, type OciMount, STANDARD_MOUNTS } from "./spec.js";
import { type MountStub, recordMountStubs, removeMountStubs } from "./stubs.js";
import { resolveUser } from "./user.js";

export interface RuncExecutorOptions {
  /** State directory: `bundles/<id>` (config.json, rootfs, per-run /etc files, runtime log) and `runc/` (`--root`). */
  readonly root: string;
  /** `runc` (default), `crun`, or the path of an OCI runtime binary with runc's command line. */
  readonly runtime?: "runc" | "crun" | (string & {});
  /** Hostname when the request sets none; default `buildkitsandbox`. */
  readonly defaultHostname?: string;
}

export interface RuncExecutor extends Executor {
  /** Removes containers, mounts and bundles of dead kiln processes (also done before the first run). */
  cleanupStale(): Promise<StaleCleanup>;
}

/** Per-run state the clean-up needs, filled in as the bundle is prepared. */
interface RunState {
  stubs: MountStub[];
}

/**
 * An executor that runs each request as a fresh container with runc (or crun): it writes an OCI bundle
 * under `<root>/bundles/<id>`, runs it in the foreground, streams its output, and removes the container,
 * its mounts and the bundle afterwards, whatever happened.
 */
export function createRuncExecutor(options: RuncExecutorOptions): RuncExecutor {
  const paths = executorPaths(options.root);
  const runtimeName = options.runtime ?? "runc";
  let ready: Promise<Runtime> | undefined;
  const start = (): Promise<Runtime> => {
    ready ??= (async () => {
      const rt = await findRuntime(runtimeName, paths.runtimeState);
      await cleanupStaleWith(rt, paths);
      return rt;
    })().catch((err: unknown) => {
      ready = undefined; // a missing runtime installed later is picked up by the next run
      throw err;
    });
    return ready;
  };

  async function run(req: ExecRequest, o: CallOptions = {}): Promise<{ exitCode: number }> {
    throwIfAborted(o.signal);
    if (req.process.args.length === 0) {
      throw new KilnError("INVALID_ARGUMENT", "no command to run: the process has no arguments");
    }
    const rt = await start();
    const id = newContainerId();
    const bundle = join(paths.bundles, id);
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    const state: RunState = { stubs: [] };
    let result: { exitCode: number };
    try {
      result = await runInBundle(rt, id, bundle, req, o, state);
    } catch (err) {
      await cleanupRun(rt, id, bundle, state).catch(() => {});
      throw err;
    }
    await cleanupRun(rt, id, bundle, state);
    return result;
  }

  async function runInBundle(
    rt: Runtime,
    id: string,
    bundle: string,
    req: ExecRequest,
    o: CallOptions,
    state: RunState,
  ): Promise<{ exitCode: number }> {
    const rootBind = singleBind(req.rootfs);
    let rootPath: string;
    if (rootBind) {
      // One bind mount needs no mount syscall: the runtime uses the directory itself as the root.
      rootPath = await realpath(rootBind.source);
    } else {
      if (req.rootfs.length === 0)
        throw new KilnError("INVALID_ARGUMENT", "the request has no rootfs mounts");
      rootPath = join(bundle, "rootfs");
      await mkdir(rootPath);
      await mountAll(req.rootfs, rootPath);
    }
    const rootReadonly = rootBind !== undefined && isReadonly(rootBind);
    const hostname = req.hostname ?? options.defaultHostname ?? DEFAULT_HOSTNAME;
    const etcFiles = await writeEtcFiles(bundle, hostname);
    const ociMounts: OciMount[] = etcFiles.map((f) => ({
      destination: f.dest,
      type: "bind",
      source: f.source,
      options: ["rbind", "ro"],
    }));
    const view: ContainerView & { mounts: ViewMount[] } = {
      rootfs: rootPath,
      rootReadonly,
      mounts: etcFiles.map((f) => ({ dest: f.dest, source: f.source, readonly: true })),
    };
    for (const [index, m] of sortByDepth(req.mounts).entries()) {
      const mount = await prepareMount(bundle, index, m, view);
      ociMounts.push(mount.oci);
      view.mounts.push(mount.view);
    }

    const user = await resolveUser(view, req.process.user);
    const cwd = await mkdirInContainer(view, req.process.cwd || "/", user);
    // Recorded for read-only roots too: the runtime creates mount points before it remounts the root
    // read-only, so they land in the source directory all the same.
    const dests = [...STANDARD_MOUNTS, ...ociMounts].map((m) => m.destination);
    state.stubs = await recordMountStubs(rootPath, dests);
    const spec = buildSpec({
      rootPath,
      rootReadonly,
      args: req.process.args,
      env: req.process.env,
      cwd,
      user,
      hostname,
      network: req.network ?? "sandbox",
      ...(req.security === "insecure" ? { security: "insecure" as const } : {}),
      mounts: ociMounts,
    });
    await writeFile(join(bundle, "config.json"), JSON.stringify(spec, null, 2));
    throwIfAborted(o.signal);

    const outcome = await runContainer(rt, id, bundle, join(bundle, "runtime.log"), {
      stdout: req.stdout,
      stderr: req.stderr,
      signal: o.signal,
    });
    if (outcome.canceled) throw new KilnError("CANCELED", "operation canceled", { cause: o.signal?.reason });
    if (outcome.runtimeError !== undefined) {
      throw startFailure(req.process.args, outcome.runtimeError, outcome.exitCode, rt.binary);
    }
    return { exitCode: outcome.exitCode };
  }

  /** An extra mount as a bind mount of a host path; non-bind shapes are mounted in the bundle first. */
  async function prepareMount(
    bundle: string,
    index: number,
    m: ExecMount,
    view: ContainerView,
  ): Promise<{ oci: OciMount; view: ViewMount }> {
    if (!m.dest.startsWith("/")) {
      throw new KilnError(
        "INVALID_ARGUMENT",
        `mount destination ${JSON.stringify(m.dest)} is not an absolute path`,
      );
    }
    if (m.mounts.length === 0)
      throw new KilnError("INVALID_ARGUMENT", `the mount at ${m.dest} has no mounts`);
    const bind = singleBind(m.mounts);
    let source: string;
    if (bind) {
      source = await realpath(bind.source).catch((err: unknown) => {
        throw new KilnError(
          "NOT_FOUND",
          `the source of the mount at ${m.dest} does not exist: ${bind.source}`,
          {
            cause: err,
          },
        );
      });
    } else {
      source = join(bundle, "mounts", String(index));
      await mkdir(source, { recursive: true });
      await mountAll(m.mounts, source);
    }
    // The runtime resolves the destination in the rootfs the same way; resolving it here keeps kiln's
    // view (cwd creation, user lookup, stub removal) identical to what the process will see.
    const dest = (await resolveInContainer(view, m.dest, { refuseRuntimeTrees: false })).path;
    if (dest === "/")
      throw new KilnError("INVALID_ARGUMENT", `the mount at ${m.dest} would cover the rootfs`);
    const readonly = m.readonly === true || (bind !== undefined && isReadonly(bind));
    const extra = (bind?.options ?? []).filter((opt) => !["bind", "rbind", "ro", "rw"].includes(opt));
    return {
      oci: { destination: dest, type: "bind", source, options: ["rbind", readonly ? "ro" : "rw", ...extra] },
      view: { dest, source, readonly },
    };
  }

  return {
    name: basename(runtimeName),
    run,
    cleanupStale: async () => cleanupStaleWith(await findRuntime(runtimeName, paths.runtimeState), paths),
  };
}

/** Parents before children, so a mount nested in another one is mounted on top of it. */
function sortByDepth(mounts: readonly ExecMount[]): ExecMount[] {
  return [...mounts].sort((a, b) => splitPath(a.dest).length - splitPath(b.dest).length);
}

/**
 * The runtime could not start the process (no such binary, bad cwd, ...). BuildKit reports this as
 * an ordinary failed process (runc's exit code 1, the runtime's message only in the step log); kiln
 * rejects with the runtime's message instead, because nothing ran, and keeps the exit code in details.
 */
function startFailure(
  args: readonly string[],
  message: string,
  exitCode: number,
  runtime: string,
): KilnError {
  const reason = message.replace(/^\S+ run failed: /, "");
  const notFound = /executable file not found|no such file or directory/i.test(reason);
  return new KilnError(
    notFound ? "NOT_FOUND" : "FAILED_PRECONDITION",
    `process ${JSON.stringify(args.join(" "))} could not be started: ${reason}`,
    {
      hint: notFound ? "check that the program exists in the image and is on PATH" : undefined,
      details: { exitCode, runtime, args: [...args] },
    },
  );
}

/**
 * Removes everything a run created, each step even when an earlier one failed: the container (only
 * left when the run was interrupted), the mount stubs, the mounts, then the bundle directory. The
 * bundle is deleted only once nothing is mounted below it, so a snapshot is never deleted through it.
 */
async function cleanupRun(rt: Runtime, id: string, bundle: string, state: RunState): Promise<void> {
  const errors: unknown[] = [];
  const step = async (fn: () => Promise<unknown>): Promise<boolean> => {
    try {
      await fn();
      return true;
    } catch (err) {
      errors.push(err);
      return false;
    }
  };
  await step(async () => {
    if (await hasState(rt, id)) await deleteContainer(rt, id);
  });
  await step(() => removeMountStubs(state.stubs));
  if (await step(() => unmountUnder(bundle))) await step(() => rm(bundle, { recursive: true, force: true }));
  if (errors.length > 0) throw errors[0];
}
