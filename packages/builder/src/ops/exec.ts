import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  type CallOptions,
  type ExecMount,
  type ImmutableRef,
  KilnError,
  type NetworkMode,
  type Op,
  type Ref,
  sha256,
} from "@kiln/core";
import type { pb } from "@kiln/llb";
import { resolveInRoot } from "@kiln/snapshotter";
import { acquireCacheMount } from "./cache-mounts.js";
import type { DecodedOp, OpEnvironment } from "./types.js";

const TAIL_LINES = 20;
const execFileAsync = promisify(execFile);

/**
 * ExecOp (RUN): runs the command in a container on a writable copy of the root mount's input and
 * commits the result. Output streams to progress as it comes and, in full, to a log file in the store.
 */
export function execOp(op: DecodedOp, env: OpEnvironment, description: string, vertex: string): Op<Ref> {
  const exec = op.exec as pb.ExecOp;
  const meta = exec.meta ?? {};
  const mounts = exec.mounts ?? [];
  const root = mounts.find((m) => (m.dest ?? "") === "/");
  return {
    async cacheMap() {
      // The digest covers the command and its environment, not mount selectors (they key the deps).
      const normalized = { ...exec, mounts: mounts.map((m) => ({ ...m, selector: "" })) };
      const platform = op.platform ?? {};
      return {
        digest: sha256(
          JSON.stringify({
            Type: "buildkit.exec.v0",
            Exec: normalized,
            OS: platform.os ?? "",
            Arch: platform.architecture ?? "",
          }),
        ),
        deps: (op.inputs ?? []).map((_, i) => {
          const selectors = mounts.filter((m) => m.input === i && m.selector).map((m) => m.selector);
          return selectors.length ? { selector: sha256(selectors.join("\0")) } : {};
        }),
      };
    },
    async exec(inputs, o) {
      const executor = env.executor;
      if (!executor) {
        throw new KilnError("FAILED_PRECONDITION", "RUN needs an OCI runtime, and none is configured", {
          hint: "install runc (apt-get install runc) or pass --oci-runtime",
        });
      }
      const extra = mounts.filter((m) => m !== root);
      const base = root && (root.input ?? 0) >= 0 ? inputs[root.input ?? 0] : undefined;
      if (base && "directory" in base) {
        throw new KilnError("NOT_IMPLEMENTED", "RUN directly on a local directory is not supported");
      }
      const logDir = join(env.storeRoot, "logs");
      await mkdir(logDir, { recursive: true });
      const logPath = join(logDir, `${vertex.replace("sha256:", "")}-${Date.now()}.log`);
      const log = createWriteStream(logPath);
      const tail: string[] = [];
      // Unfinished last lines, per stream: stdout and stderr chunks interleave.
      const partial: Record<1 | 2, string> = { 1: "", 2: "" };
      const collect = (stream: 1 | 2) => (chunk: Uint8Array) => {
        log.write(chunk);
        const text = Buffer.from(chunk).toString("utf8");
        o.progress.write({ type: "vertex.log", vertex, stream, data: text, time: Date.now() });
        const lines = (partial[stream] + text).split("\n");
        partial[stream] = lines.pop() ?? "";
        tail.push(...lines);
        if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
      };
      const args = meta.args ?? [];
      const prepared: PreparedMount[] = [];
      const processEnv = [...(meta.env ?? [])];
      try {
        for (const sec of exec.secretenv ?? []) {
          const value = await secretValue(env, sec.id ?? "", sec.optional === true);
          if (value !== undefined) processEnv.push(`${sec.name}=${Buffer.from(value).toString("utf8")}`);
        }
        for (const m of extra) {
          const mount = await prepareMount(m, inputs, env, o);
          if (mount) prepared.push(mount);
        }
        const ref = await env.refs.build(
          base as ImmutableRef | undefined,
          description,
          async (dir) => {
            const { exitCode } = await executor.run(
              {
                rootfs: [{ type: "bind", source: dir, options: ["rbind", "rw"] }],
                mounts: prepared.map((p) => p.mount),
                process: {
                  args,
                  env: processEnv,
                  cwd: meta.cwd || "/",
                  ...(meta.user ? { user: meta.user } : {}),
                },
                network: networkMode(exec.network),
                ...(meta.hostname ? { hostname: meta.hostname } : {}),
                stdout: collect(1),
                stderr: collect(2),
              },
              o,
            );
            const valid = meta.validExitCodes?.length ? meta.validExitCodes : [0];
            if (!valid.includes(exitCode)) {
              for (const rest of [partial[1], partial[2]]) if (rest) tail.push(rest);
              throw new KilnError(
                "FAILED_PRECONDITION",
                `process "${args.join(" ")}" did not complete successfully: exit code: ${exitCode}`,
                { details: { exitCode, logTail: tail.slice(-TAIL_LINES), logPath } },
              );
            }
          },
          o,
        );
        return [ref];
      } finally {
        await new Promise((resolve) => log.end(resolve));
        for (const p of prepared.reverse()) await p.release().catch(() => {});
      }
    },
  };
}

function networkMode(mode: number | undefined): NetworkMode {
  return mode === 1 ? "host" : mode === 2 ? "none" : "sandbox";
}

interface PreparedMount {
  readonly mount: ExecMount;
  release(): Promise<void>;
}

const MountType = { BIND: 0, SECRET: 1, SSH: 2, CACHE: 3, TMPFS: 4 } as const;

/** A RUN --mount as an executor mount: bind (read-only), cache (a store directory) or tmpfs. */
async function prepareMount(
  m: pb.Mount,
  inputs: readonly Ref[],
  env: OpEnvironment,
  o: CallOptions,
): Promise<PreparedMount | undefined> {
  const dest = m.dest ?? "";
  const type = m.mountType ?? MountType.BIND;
  const noop = async () => {};
  if (type === MountType.TMPFS) {
    const size = m.tmpfsOpt?.size;
    const options = size ? [`size=${size}`] : [];
    return { mount: { dest, mounts: [{ type: "tmpfs", source: "tmpfs", options }] }, release: noop };
  }
  if (type === MountType.CACHE) {
    const sharing = (["shared", "private", "locked"] as const)[m.cacheOpt?.sharing ?? 0] ?? "shared";
    const { lease, created } = await acquireCacheMount(env.storeRoot, m.cacheOpt?.id || dest, sharing, o);
    const from = (m.input ?? -1) >= 0 ? inputs[m.input ?? 0] : undefined;
    if (created && from) {
      // A new cache starts as a copy of its `from` source (e.g. the directory made for uid/gid/mode).
      const tree = await from.mount(o);
      try {
        const src = await resolveInRoot(tree.path, m.selector || "/");
        await execFileAsync("cp", ["-a", `${src}/.`, lease.path]);
      } finally {
        await tree.release();
      }
    }
    return {
      mount: { dest, mounts: [{ type: "bind", source: lease.path, options: ["rbind", "rw"] }] },
      release: () => lease.release(),
    };
  }
  if (type === MountType.SECRET) return secretMount(m, env);
  if (type !== MountType.BIND) {
    throw new KilnError("NOT_IMPLEMENTED", "RUN --mount=type=ssh is not supported yet");
  }
  if (!m.readonly) {
    throw new KilnError("NOT_IMPLEMENTED", "writable (rw) bind mounts are not supported yet", {
      hint: "mount it read-only (the default), or COPY the files in",
    });
  }
  const input = (m.input ?? -1) >= 0 ? inputs[m.input ?? 0] : undefined;
  if (!input) throw new KilnError("INVALID_ARGUMENT", `bind mount at ${dest} has no source`);
  const tree = await input.mount(o);
  try {
    const source = await resolveInRoot(tree.path, m.selector || "/");
    return {
      mount: { dest, mounts: [{ type: "bind", source, options: ["rbind", "ro"] }], readonly: true },
      release: () => tree.release(),
    };
  } catch (err) {
    await tree.release();
    throw err;
  }
}

async function secretValue(
  env: OpEnvironment,
  id: string,
  optional: boolean,
): Promise<Uint8Array | undefined> {
  const value = env.secret ? await env.secret(id) : undefined;
  if (value === undefined && !optional) {
    throw new KilnError("NOT_FOUND", `secret ${id} not found`, {
      hint: `pass it with --secret id=${id},src=FILE (or env=VAR)`,
    });
  }
  return value;
}

/**
 * A secret as a read-only file in a private directory outside the rootfs, bind-mounted for the one
 * step and deleted afterwards: it never becomes part of a snapshot, a layer or a cache record.
 */
async function secretMount(m: pb.Mount, env: OpEnvironment): Promise<PreparedMount | undefined> {
  const opt = m.secretOpt ?? {};
  const value = await secretValue(env, opt.id ?? "", opt.optional === true);
  const dest = m.dest ?? "";
  if (value === undefined) {
    return {
      mount: { dest, mounts: [{ type: "tmpfs", source: "tmpfs", options: ["size=4k"] }] },
      release: async () => {},
    };
  }
  const dir = await mkdtemp(join(env.storeRoot, "secret-"));
  await chmod(dir, 0o700);
  const file = join(dir, "secret");
  await writeFile(file, value, { mode: opt.mode || 0o400 });
  await chmod(file, opt.mode || 0o400);
  await chown(file, opt.uid ?? 0, opt.gid ?? 0);
  return {
    mount: { dest, mounts: [{ type: "bind", source: file, options: ["rbind", "ro"] }], readonly: true },
    release: () => rm(dir, { recursive: true, force: true }),
  };
}
