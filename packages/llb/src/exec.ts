import { DEFAULT_PATH_ENV, KilnError } from "@kiln/core";
import { Caps } from "./caps.js";
import type {
  BindMount,
  CacheMount,
  CacheSharing,
  ContentCacheMode,
  RunOptions,
  SecretMount,
  SshMount,
  TmpfsMount,
} from "./exec-options.js";
import * as pb from "./pb.js";
import { shlexSplit } from "./shlex.js";
import type { State } from "./state.js";
import { baseOp, type MarshalContext, type Output, opMetadata, type Vertex } from "./vertex.js";
import { compareUtf8 } from "./wire.js";

/** A filesystem mount (bind, cache or tmpfs) after normalisation, in BuildKit's sort order. */
interface FsMount {
  readonly dest: string;
  readonly isRoot: boolean;
  readonly source: Output | undefined;
  readonly selector?: string;
  readonly readonly: boolean;
  readonly noOutput: boolean;
  readonly cache?: { id: string; sharing: CacheSharing };
  readonly tmpfsSize?: number;
  readonly contentCache: ContentCacheMode;
  /** Output index, or -1 when the mount produces none. */
  readonly outputIndex: number;
}

export interface ExecOpOutputs {
  readonly root: Output | undefined;
  mountOutput(dest: string): Output | undefined;
}

const NETWORK = { sandbox: pb.NetMode.UNSET, host: pb.NetMode.HOST, none: pb.NetMode.NONE } as const;
const SHARING = {
  shared: pb.CacheSharingOpt.SHARED,
  private: pb.CacheSharingOpt.PRIVATE,
  locked: pb.CacheSharingOpt.LOCKED,
};
const CONTENT_CACHE = { default: 0, on: 1, off: 2 } as const;

/** Builds the ExecOp vertex for `base.run(opts)`. */
export function createExecOp(base: State, opts: RunOptions): ExecOpOutputs {
  const args = typeof opts.args === "string" ? shlexSplit(opts.args) : [...opts.args];
  if (args.length === 0) throw new KilnError("INVALID_ARGUMENT", "run needs at least one argument");
  let s = base;
  for (const [k, v] of Object.entries(opts.env ?? {})) s = s.addEnv(k, v);
  if (opts.cwd !== undefined) s = s.dir(opts.cwd);
  if (opts.user !== undefined) s = s.user(opts.user);
  if (opts.hostname !== undefined) s = s.hostname(opts.hostname);
  if (opts.network !== undefined) s = s.network(opts.network);
  if (opts.security !== undefined) s = s.security(opts.security);
  const meta = s.meta;

  const specs = opts.mounts ?? [];
  const secrets = specs.filter((m): m is SecretMount => m.type === "secret");
  const sshMounts = specs.filter((m): m is SshMount => m.type === "ssh");
  const fsSpecs = specs.filter(
    (m): m is BindMount | CacheMount | TmpfsMount => m.type !== "secret" && m.type !== "ssh",
  );
  const unsorted = [
    { dest: pb.ROOT_MOUNT, source: base, readonly: opts.readonlyRootfs } as BindMount,
    ...fsSpecs,
  ];
  // Stable sort by destination (bytewise), as BuildKit orders mounts before numbering outputs.
  const sorted = unsorted
    .map((m, i) => ({ m, i }))
    .sort((a, b) => compareUtf8(a.m.dest, b.m.dest) || a.i - b.i);
  let nextOutput = 0;
  const mounts: FsMount[] = sorted.map(({ m, i }) => {
    const cache =
      m.type === "cache" ? { id: m.cacheId ?? m.dest, sharing: m.sharing ?? "shared" } : undefined;
    const readonly = m.type !== "tmpfs" && !!m.readonly;
    const noOutput = m.type === undefined || m.type === "bind" ? !!m.noOutput : false;
    const producesOutput = !noOutput && !readonly && !cache && m.type !== "tmpfs";
    return {
      dest: m.dest,
      isRoot: i === 0,
      source: m.type === "tmpfs" ? undefined : m.source?.output,
      ...(m.type !== "tmpfs" && m.selector ? { selector: m.selector } : {}),
      readonly,
      noOutput,
      ...(cache ? { cache } : {}),
      ...(m.type === "tmpfs" ? { tmpfsSize: m.size ?? 0 } : {}),
      contentCache: m.type === "tmpfs" ? "default" : (m.contentCache ?? "default"),
      outputIndex: producesOutput ? nextOutput++ : pb.SKIP_OUTPUT,
    };
  });

  const inputs: Output[] = [];
  for (const m of mounts) if (m.source && !inputs.includes(m.source)) inputs.push(m.source);

  const vertex: Vertex = {
    inputs,
    marshal(ctx) {
      const caps = new Set<string>([Caps.execMetaBase]);
      const op = baseOp(ctx, opts, meta.platform);
      const env = new Map(meta.env);
      const sshTargets = sshMounts.map((m, i) => m.dest ?? `/run/buildkit/ssh_agent.${i}`);
      if (sshTargets[0] !== undefined && !env.has("SSH_AUTH_SOCK")) env.set("SSH_AUTH_SOCK", sshTargets[0]);
      if (ctx.caps) {
        if (ctx.caps.has(Caps.execMetaSetsDefaultPath)) caps.add(Caps.execMetaSetsDefaultPath);
        else if (ctx.platform.os !== "windows" && !env.has("PATH"))
          env.set("PATH", DEFAULT_PATH_ENV.slice(5));
      }
      const execMeta: pb.Meta = {
        args,
        env: [...env].map(([k, v]) => `${k}=${v}`),
        cwd: meta.dir,
        user: meta.user ?? "",
        hostname: meta.hostname ?? "",
        cgroupParent: meta.cgroupParent ?? "",
        removeMountStubsRecursive: true,
      };
      if (opts.validExitCodes) {
        execMeta.validExitCodes = [...opts.validExitCodes];
        caps.add(Caps.execValidExitCode);
      }
      if (meta.extraHosts.length)
        execMeta.extraHosts = meta.extraHosts.map((h) => ({ host: h.host, ip: h.ip }));
      if (meta.ulimits.length) {
        caps.add(Caps.execMetaUlimit);
        execMeta.ulimit = meta.ulimits.map((u) => ({ ...u }));
      }
      const exec: pb.ExecOp = {
        meta: execMeta,
        network: NETWORK[meta.network ?? "sandbox"],
        security: meta.security === "insecure" ? pb.SecurityMode.INSECURE : pb.SecurityMode.SANDBOX,
      };
      if (exec.network) caps.add(Caps.execMetaNetwork);
      if (exec.security) caps.add(Caps.execMetaSecurity);
      if (opts.proxyEnv) {
        execMeta.proxyEnv = { ...opts.proxyEnv };
        caps.add(Caps.execMetaProxy);
      }
      if (opts.cdiDevices?.length) {
        caps.add(Caps.execMetaCdi);
        exec.cdiDevices = opts.cdiDevices.map((d) => ({ name: d.name, optional: !!d.optional }));
      }
      op.inputs = [];
      exec.mounts = mounts.map((m) => marshalMount(m, ctx, op.inputs as pb.Input[], caps));
      if (opts.secretEnv?.length) {
        exec.secretenv = opts.secretEnv.map((sec) => ({
          id: sec.id,
          name: sec.name,
          optional: !!sec.optional,
        }));
      }
      if (secrets.length || opts.secretEnv?.length) caps.add(Caps.execMountSecret);
      if (opts.secretEnv?.length) caps.add(Caps.execSecretEnv);
      // Secret and SSH mounts follow the sorted filesystem mounts; like BuildKit they leave output 0.
      for (const sec of secrets) {
        const secretOpt = {
          id: sec.id ?? sec.dest,
          uid: sec.uid,
          gid: sec.gid,
          mode: sec.mode ?? 0o400,
          optional: sec.optional,
        };
        exec.mounts.push({
          input: pb.EMPTY_INPUT,
          dest: sec.dest,
          mountType: pb.MountType.SECRET,
          secretOpt,
        });
      }
      sshMounts.forEach((m, i) => {
        const sshOpt = { id: m.id, uid: m.uid, gid: m.gid, mode: m.mode ?? 0o600, optional: m.optional };
        exec.mounts?.push({
          input: pb.EMPTY_INPUT,
          dest: sshTargets[i],
          mountType: pb.MountType.SSH,
          sshOpt,
        });
      });
      if (sshMounts.length) caps.add(Caps.execMountSsh);
      op.op = { case: "exec", value: exec };
      return { op, metadata: opMetadata(opts, caps) };
    },
  };

  const outputOf = (m: FsMount): Output => ({
    vertex,
    index: m.outputIndex,
    ...(opts.platform ? { platform: opts.platform } : {}),
  });
  const root = mounts.find((m) => m.isRoot) as FsMount;
  return {
    root: root.readonly ? base.output : outputOf(root),
    mountOutput(dest) {
      const m = mounts.find((x) => x.dest === dest);
      if (!m) throw new KilnError("INVALID_ARGUMENT", `run has no mount at ${dest}`);
      if (m.readonly) return m.source;
      if (m.outputIndex < 0) {
        throw new KilnError("INVALID_ARGUMENT", `mount ${dest} produces no output`, {
          hint: "cache, tmpfs and no-output mounts cannot be used as a state",
        });
      }
      return outputOf(m);
    },
  };
}

function marshalMount(m: FsMount, ctx: MarshalContext, inputs: pb.Input[], caps: Set<string>): pb.Mount {
  let input: number = pb.EMPTY_INPUT;
  if (m.source) {
    const edge = ctx.input(m.source);
    input = inputs.findIndex((i) => i.digest === edge.digest && (i.index ?? 0) === (edge.index ?? 0));
    if (input < 0) input = inputs.push(edge) - 1;
  }
  const out: pb.Mount = { input, dest: m.dest, output: m.outputIndex, readonly: m.readonly };
  if (m.selector) {
    out.selector = m.selector;
    caps.add(Caps.execMountSelector);
  }
  if (m.cache) {
    out.mountType = pb.MountType.CACHE;
    out.cacheOpt = { id: m.cache.id, sharing: SHARING[m.cache.sharing] };
    caps.add(Caps.execMountCache).add(Caps.execMountCacheSharing);
  } else if (m.tmpfsSize !== undefined) {
    out.mountType = pb.MountType.TMPFS;
    out.tmpfsOpt = { size: m.tmpfsSize };
    caps.add(Caps.execMountTmpfs);
    if (m.tmpfsSize > 0) caps.add(Caps.execMountTmpfsSize);
  } else if (m.source) caps.add(Caps.execMountBind);
  if (m.contentCache !== "default") {
    out.contentCache = CONTENT_CACHE[m.contentCache];
    caps.add(Caps.execMountContentCache);
  }
  return out;
}
