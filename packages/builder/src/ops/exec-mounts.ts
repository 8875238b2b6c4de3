import { execFile } from "node:child_process";
import { chmod, chown, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { cacheMountKey } from "@kiln/cache";
import { type CallOptions, type DirectoryRef, type ExecMount, KilnError, type Ref } from "@kiln/core";
import type { pb } from "@kiln/llb";
import { resolveInRoot } from "@kiln/snapshotter";
import { startAgentProxy } from "../ssh/agent-proxy.js";
import { acquireCacheMount } from "./cache-mounts.js";
import { copyFiltered, excludesAny } from "./local-copy.js";
import { makeStepDir } from "./step-dirs.js";
import type { OpEnvironment } from "./types.js";

const execFileAsync = promisify(execFile);

export interface PreparedMount {
  readonly mount: ExecMount;
  release(): Promise<void>;
}

const MountType = { BIND: 0, SECRET: 1, SSH: 2, CACHE: 3, TMPFS: 4 } as const;
const noop = async () => {};

/**
 * A RUN --mount as an executor mount: bind (read-only, or a throw-away writable copy), cache (a store
 * directory), tmpfs, secret (a private file) or ssh (a per-step agent socket). Undefined when an
 * optional secret or ssh agent is missing.
 */
export async function prepareMount(
  m: pb.Mount,
  inputs: readonly Ref[],
  env: OpEnvironment,
  o: CallOptions,
  inputVertices: readonly { digest: string; index: number }[] = [],
): Promise<PreparedMount | undefined> {
  const dest = m.dest ?? "";
  const type = m.mountType ?? MountType.BIND;
  if (type === MountType.TMPFS) {
    const size = m.tmpfsOpt?.size;
    const options = size ? [`size=${size}`] : [];
    return { mount: { dest, mounts: [{ type: "tmpfs", source: "tmpfs", options }] }, release: noop };
  }
  if (type === MountType.CACHE) return cacheMount(m, inputs, env, o, inputVertices);
  if (type === MountType.SECRET) return secretMount(m, env);
  if (type === MountType.SSH) return sshMount(m, env);
  if (type !== MountType.BIND)
    throw new KilnError("INVALID_ARGUMENT", `unknown mount type ${type} at ${dest}`);
  return bindMount(m, inputs, env, o);
}

/**
 * A bind mount: read-only in place, or a copy when it is writable (`rw`: the step writes to a copy,
 * deleted afterwards, so neither the source — a snapshot, or the user's own context directory — nor
 * any layer sees the writes) or when the source is a local directory whose `.dockerignore` leaves
 * something out below the mounted path (the step sees what BuildKit would have transferred).
 */
async function bindMount(
  m: pb.Mount,
  inputs: readonly Ref[],
  env: OpEnvironment,
  o: CallOptions,
): Promise<PreparedMount> {
  const dest = m.dest ?? "";
  const input = (m.input ?? -1) >= 0 ? inputs[m.input ?? 0] : undefined;
  if (!input) throw new KilnError("INVALID_ARGUMENT", `bind mount at ${dest} has no source`);
  const readonly = m.readonly === true;
  const tree = await input.mount(o);
  let scratch: string | undefined;
  try {
    const source = await resolveInRoot(tree.path, m.selector || "/");
    const filter = "directory" in input ? (input as DirectoryRef).filter : undefined;
    const filtered = filter !== undefined && (await excludesAny(tree.path, source, filter));
    if (readonly && !filtered) {
      return {
        mount: { dest, mounts: [{ type: "bind", source, options: ["rbind", "ro"] }], readonly: true },
        release: () => tree.release(),
      };
    }
    scratch = await makeStepDir(env.storeRoot, "rw-mount");
    const copy = join(scratch, "copy");
    if (filter && filtered) await copyFiltered(tree.path, source, copy, filter);
    else await execFileAsync("cp", ["-a", "--", source, copy]);
    await tree.release();
    const dir = scratch;
    return {
      mount: {
        dest,
        mounts: [{ type: "bind", source: copy, options: ["rbind", readonly ? "ro" : "rw"] }],
        readonly,
      },
      release: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    await tree.release().catch(() => {});
    if (scratch) await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}

async function cacheMount(
  m: pb.Mount,
  inputs: readonly Ref[],
  env: OpEnvironment,
  o: CallOptions,
  inputVertices: readonly { digest: string; index: number }[],
): Promise<PreparedMount> {
  const dest = m.dest ?? "";
  const sharing = (["shared", "private", "locked"] as const)[m.cacheOpt?.sharing ?? 0] ?? "shared";
  const from = (m.input ?? -1) >= 0 ? inputs[m.input ?? 0] : undefined;
  // Like BuildKit, a cache seeded from a source is a different cache than the same id without one.
  const id = m.cacheOpt?.id || dest;
  const key = from ? `${id}:${from.id}` : id;
  const { lease, created } = await acquireCacheMount(env.storeRoot, key, sharing, o);
  if (created && from) {
    // A new cache starts as a copy of its `from` source (e.g. the directory made for uid/gid/mode):
    // the directory itself too, so its owner and mode become the cache's.
    const tree = await from.mount(o);
    try {
      const src = await resolveInRoot(tree.path, m.selector || "/");
      await execFileAsync("cp", ["-a", "-T", "--", src, lease.path]);
    } catch (err) {
      await lease.release();
      throw err;
    } finally {
      await tree.release();
    }
  }
  if (env.cacheMounts && !lease.throwaway) {
    // The seed's identity for other machines is its LLB vertex (a ref id is local to this store).
    const vertex = from ? inputVertices[m.input ?? 0] : undefined;
    const seed = vertex ? `${vertex.digest}:${vertex.index}:${m.selector ?? ""}` : undefined;
    try {
      await env.cacheMounts.using(
        { key: cacheMountKey(id, seed), id, localKey: key, sharing, path: lease.path },
        o,
      );
    } catch (err) {
      await lease.release();
      throw err;
    }
  }
  return {
    mount: { dest, mounts: [{ type: "bind", source: lease.path, options: ["rbind", "rw"] }] },
    release: () => lease.release(),
  };
}

export async function secretValue(
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
      release: noop,
    };
  }
  const dir = await makeStepDir(env.storeRoot, "secret");
  const file = join(dir, "secret");
  await writeFile(file, value, { mode: opt.mode || 0o400 });
  await chmod(file, opt.mode || 0o400);
  await chown(file, opt.uid ?? 0, opt.gid ?? 0);
  return {
    mount: { dest, mounts: [{ type: "bind", source: file, options: ["rbind", "ro"] }], readonly: true },
    release: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The build's SSH agent as a socket at the mount's target, owned and moded as asked (default root,
 * 0600): a read-only forwarding socket outside the rootfs, closed and deleted after the step, so no
 * trace of it is committed. A missing optional agent mounts nothing.
 */
async function sshMount(m: pb.Mount, env: OpEnvironment): Promise<PreparedMount | undefined> {
  const opt = m.sshOpt ?? {};
  const id = opt.id || "default";
  if (!env.ssh?.has(id)) {
    if (opt.optional) return undefined;
    throw new KilnError("NOT_FOUND", `no SSH key ${id} forwarded from the client`, {
      hint:
        id === "default"
          ? "pass --ssh default (forwards $SSH_AUTH_SOCK)"
          : `pass --ssh ${id}=<socket or key file>`,
    });
  }
  const proxy = await startAgentProxy(await env.ssh.socket(id), tmpdir(), {
    uid: opt.uid ?? 0,
    gid: opt.gid ?? 0,
    mode: opt.mode || 0o600,
  });
  return {
    mount: { dest: m.dest ?? "", mounts: [{ type: "bind", source: proxy.path, options: ["rbind", "rw"] }] },
    release: () => proxy.close(),
  };
}
