import type * as pb from "./pb.js";
import type { NetworkMode, SecurityMode, State } from "./state.js";
import type { OpOptions } from "./vertex.js";

/** Options of `state.run()`: the command, its environment and its mounts. */

export type ContentCacheMode = "default" | "on" | "off";
export type CacheSharing = "shared" | "private" | "locked";

export interface BindMount {
  readonly type?: "bind";
  readonly dest: string;
  /** Mounted state; scratch when omitted. */
  readonly source?: State;
  /** Path inside the source to mount. */
  readonly selector?: string;
  readonly readonly?: boolean;
  /** Writable, but its changes are discarded (no output). */
  readonly noOutput?: boolean;
  readonly contentCache?: ContentCacheMode;
}

export interface CacheMount {
  readonly type: "cache";
  readonly dest: string;
  /** Cache namespace; defaults to `dest`. */
  readonly cacheId?: string;
  readonly sharing?: CacheSharing;
  /** Initial content of a new cache. */
  readonly source?: State;
  readonly selector?: string;
  readonly readonly?: boolean;
  readonly contentCache?: ContentCacheMode;
}

export interface TmpfsMount {
  readonly type: "tmpfs";
  readonly dest: string;
  /** Size limit in bytes (0 = default). */
  readonly size?: number;
}

export interface SecretMount {
  readonly type: "secret";
  readonly dest: string;
  /** Secret id; defaults to `dest`. */
  readonly id?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Defaults to 0o400. */
  readonly mode?: number;
  readonly optional?: boolean;
}

export interface SshMount {
  readonly type: "ssh";
  /** Socket path; defaults to `/run/buildkit/ssh_agent.<n>`. */
  readonly dest?: string;
  readonly id?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Defaults to 0o600. */
  readonly mode?: number;
  readonly optional?: boolean;
}

export type MountSpec = BindMount | CacheMount | TmpfsMount | SecretMount | SshMount;

export interface RunOptions extends OpOptions {
  /** argv, or a command line split with shell-like rules. */
  readonly args: readonly string[] | string;
  /** Added to the state's environment for this command only. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory (relative paths resolve against the state's directory). */
  readonly cwd?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly network?: NetworkMode;
  readonly security?: SecurityMode;
  readonly validExitCodes?: readonly number[];
  readonly mounts?: readonly MountSpec[];
  readonly secretEnv?: readonly { readonly id: string; readonly name: string; readonly optional?: boolean }[];
  readonly readonlyRootfs?: boolean;
  readonly proxyEnv?: pb.ProxyEnv;
  readonly cdiDevices?: readonly { readonly name: string; readonly optional?: boolean }[];
}
