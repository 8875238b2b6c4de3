import { type ImageConfig, normalizePlatform, type Platform } from "@kiln/core";
import { createExecOp } from "./exec.js";
import type { RunOptions } from "./exec-options.js";
import { createFileOp, type FileAction } from "./file.js";
import { resolveDir } from "./paths.js";
import { type OpOptions, type Output, withExtraMetadata } from "./vertex.js";

export type NetworkMode = "sandbox" | "host" | "none";
export type SecurityMode = "sandbox" | "insecure";

export interface HostEntry {
  readonly host: string;
  readonly ip: string;
}

export interface UlimitEntry {
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

/**
 * Values a state carries for the ops built on it later (`run`, `file`); they never change the op that
 * produced the state itself.
 */
export interface StateMeta {
  readonly dir: string;
  /** Ordered environment; setting a key again moves it to the end. */
  readonly env: readonly (readonly [string, string])[];
  readonly user?: string;
  readonly platform?: Platform;
  readonly network?: NetworkMode;
  readonly security?: SecurityMode;
  readonly hostname?: string;
  readonly extraHosts: readonly HostEntry[];
  readonly ulimits: readonly UlimitEntry[];
  readonly cgroupParent?: string;
}

/** An immutable build state: a vertex output (undefined = scratch) plus metadata. */
export interface State {
  readonly output: Output | undefined;
  readonly meta: StateMeta;
  dir(path: string): State;
  getDir(): string;
  addEnv(key: string, value: string): State;
  delEnv(key: string): State;
  getEnv(key: string): string | undefined;
  /** The environment as `KEY=value` strings. */
  env(): string[];
  user(user: string): State;
  getUser(): string | undefined;
  platform(platform: Platform): State;
  getPlatform(): Platform | undefined;
  network(mode: NetworkMode): State;
  getNetwork(): NetworkMode;
  security(mode: SecurityMode): State;
  getSecurity(): SecurityMode;
  hostname(name: string): State;
  getHostname(): string | undefined;
  addExtraHost(host: string, ip: string): State;
  addUlimit(name: string, soft: number, hard: number): State;
  withCgroupParent(path: string): State;
  /** Seeds env, working directory and platform from an image config, like BuildKit. */
  withImageConfig(
    config: Pick<ImageConfig, "config" | "os" | "architecture" | "variant" | "os.version" | "os.features">,
  ): State;
  /** Same metadata, another output (platform taken from the output when it has one). */
  withOutput(output: Output | undefined): State;
  /** Adds metadata to the op that produced this state (its digest does not change). */
  withMetadata(opts: OpOptions): State;
  withCustomName(name: string): State;
  ignoreCache(): State;
  run(opts: RunOptions): ExecState;
  file(action: FileAction, opts?: OpOptions): State;
}

export interface ExecState extends State {
  /** The root filesystem after the command (this state itself). */
  root(): State;
  /** The output of the mount at `dest`; throws when that mount produces no output. */
  getMount(dest: string): State;
}

const DEFAULT_META: StateMeta = { dir: "/", env: [], extraHosts: [], ulimits: [] };

/** A state on `output` with fresh metadata (directory "/"). */
export function createState(output: Output | undefined): State {
  return makeState(output, withOutputPlatform(DEFAULT_META, output));
}

/** The empty filesystem. */
export function scratch(): State {
  return createState(undefined);
}

function withOutputPlatform(meta: StateMeta, output: Output | undefined): StateMeta {
  return output?.platform ? { ...meta, platform: normalizePlatform(output.platform) } : meta;
}

function makeState(output: Output | undefined, meta: StateMeta): State {
  const next = (patch: Partial<StateMeta>): State => makeState(output, { ...meta, ...patch });
  const setEnv = (key: string, value: string | undefined): State => {
    const env = meta.env.filter(([k]) => k !== key);
    return next({ env: value === undefined ? env : [...env, [key, value]] });
  };
  const state: State = {
    output,
    meta,
    dir: (path) => next({ dir: resolveDir(meta.dir, path) }),
    getDir: () => meta.dir,
    addEnv: (key, value) => setEnv(key, value),
    delEnv: (key) => setEnv(key, undefined),
    getEnv: (key) => meta.env.find(([k]) => k === key)?.[1],
    env: () => meta.env.map(([k, v]) => `${k}=${v}`),
    user: (user) => next({ user }),
    getUser: () => meta.user,
    platform: (platform) => next({ platform: normalizePlatform(platform) }),
    getPlatform: () => meta.platform,
    network: (network) => next({ network }),
    getNetwork: () => meta.network ?? "sandbox",
    security: (security) => next({ security }),
    getSecurity: () => meta.security ?? "sandbox",
    hostname: (hostname) => next({ hostname }),
    getHostname: () => meta.hostname,
    addExtraHost: (host, ip) => next({ extraHosts: [...meta.extraHosts, { host, ip }] }),
    addUlimit: (name, soft, hard) => next({ ulimits: [...meta.ulimits, { name, soft, hard }] }),
    withCgroupParent: (cgroupParent) => next({ cgroupParent }),
    withImageConfig(img) {
      let s: State = state;
      for (const entry of img.config?.Env ?? []) {
        const eq = entry.indexOf("=");
        const key = eq < 0 ? entry : entry.slice(0, eq);
        if (key) s = s.addEnv(key, eq < 0 ? "" : entry.slice(eq + 1));
      }
      s = s.dir(img.config?.WorkingDir ?? "");
      if (img.os && img.architecture) {
        const p: { -readonly [K in keyof Platform]: Platform[K] } = {
          os: img.os,
          architecture: img.architecture,
        };
        if (img.variant) p.variant = img.variant;
        if (img["os.version"]) p["os.version"] = img["os.version"];
        if (img["os.features"]) p["os.features"] = img["os.features"];
        s = s.platform(p);
      }
      return s;
    },
    withOutput: (o) => makeState(o, withOutputPlatform(meta, o)),
    withMetadata: (opts) => (output ? makeState(withExtraMetadata(output, opts), meta) : state),
    withCustomName: (customName) => state.withMetadata({ customName }),
    ignoreCache: () => state.withMetadata({ ignoreCache: true }),
    run(opts) {
      const exec = createExecOp(state, opts);
      const root = state.withOutput(exec.root);
      return { ...root, root: () => root, getMount: (dest) => createState(exec.mountOutput(dest)) };
    },
    file: (action, opts) => state.withOutput(createFileOp(state, action, opts)),
  };
  return state;
}
