import { DEFAULT_PATH_ENV, type NetworkMode, type SecurityMode } from "@kiln/core";
import { insecureDevices, ownCapabilities } from "./insecure.js";
import type { ExecUser } from "./user.js";

/** An entry of the OCI runtime spec's `mounts` array. */
export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

export interface SpecInput {
  readonly rootPath: string;
  readonly rootReadonly: boolean;
  readonly args: readonly string[];
  readonly env: readonly string[];
  /** Already resolved inside the rootfs (symlink-free). */
  readonly cwd: string;
  readonly user: ExecUser;
  readonly hostname: string;
  readonly network: NetworkMode;
  /** Default `sandbox`; `insecure` only once the `security.insecure` entitlement was granted. */
  readonly security?: SecurityMode;
  /** Per-run /etc files and the request's mounts, in mount order. */
  readonly mounts: readonly OciMount[];
}

/** Docker's default capability set; everything else (SYS_ADMIN, NET_ADMIN, ...) is dropped. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Docker's defaults: kernel interfaces that leak host information or allow host-wide changes. */
const MASKED_PATHS: readonly string[] = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** The file systems every container gets; the runtime creates the default devices in /dev itself. */
export const STANDARD_MOUNTS: readonly OciMount[] = [
  { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
  {
    destination: "/dev",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
  },
  {
    destination: "/dev/pts",
    type: "devpts",
    source: "devpts",
    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
  },
  {
    destination: "/dev/shm",
    type: "tmpfs",
    source: "shm",
    options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
  },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  {
    destination: "/sys/fs/cgroup",
    type: "cgroup",
    source: "cgroup",
    options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
  },
];

/**
 * Whether the container gets its own network namespace. `sandbox` (BuildKit's default) should be an
 * isolated namespace that still reaches the outside (slirp4netns or a CNI bridge); kiln has neither yet,
 * so it uses the host's network like BuildKit's `host` provider does when no CNI config exists.
 */
export function ownsNetworkNamespace(network: NetworkMode): boolean {
  return network === "none";
}

/** Adds Docker's default PATH when the request's environment has none. */
export function withDefaultPath(env: readonly string[]): string[] {
  return env.some((e) => e.startsWith("PATH=")) ? [...env] : [...env, DEFAULT_PATH_ENV];
}

/** The bundle's `config.json` (OCI runtime spec 1.0.2). */
export function buildSpec(input: SpecInput): Record<string, unknown> {
  const namespaces = [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }];
  // A new network namespace without a path: the runtime brings up loopback and nothing else.
  if (ownsNetworkNamespace(input.network)) namespaces.push({ type: "network" });
  const insecure = input.security === "insecure";
  const caps = insecure ? ownCapabilities() : [...DEFAULT_CAPABILITIES];
  // Insecure steps may write to /sys and the cgroup file system, as in BuildKit.
  const standard = insecure
    ? STANDARD_MOUNTS.map((m) =>
        m.type === "sysfs" || m.type === "cgroup"
          ? { ...m, options: m.options.filter((o) => o !== "ro") }
          : m,
      )
    : STANDARD_MOUNTS;
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: {
        uid: input.user.uid,
        gid: input.user.gid,
        ...(input.user.additionalGids.length > 0 ? { additionalGids: [...input.user.additionalGids] } : {}),
      },
      args: [...input.args],
      env: withDefaultPath(input.env),
      cwd: input.cwd,
      capabilities: {
        bounding: [...caps],
        effective: [...caps],
        permitted: [...caps],
        ...(insecure ? { inheritable: [...caps], ambient: [...caps] } : {}),
      },
      // No rlimits: the process inherits kiln's (BuildKit drops containerd's 1024 default the same way).
      // A fixed hard limit above the host's cannot be set anyway: the runtime applies rlimits after it
      // has dropped CAP_SYS_RESOURCE.
      // Like BuildKit: setuid binaries (sudo, su) used by some build scripts keep working.
      noNewPrivileges: false,
    },
    root: { path: input.rootPath, readonly: input.rootReadonly },
    hostname: input.hostname,
    mounts: [...standard, ...input.mounts].map((m) => ({ ...m, options: [...m.options] })),
    linux: {
      namespaces,
      resources: {
        devices: insecure
          ? [
              { allow: true, type: "c", access: "rwm" },
              { allow: true, type: "b", access: "rwm" },
            ]
          : // Deny every device node; the runtime adds its default allow list (null, zero, tty, ptmx, ...).
            [{ allow: false, access: "rwm" }],
      },
      ...(insecure ? { devices: insecureDevices() } : {}),
      maskedPaths: insecure ? [] : [...MASKED_PATHS],
      readonlyPaths: insecure ? [] : [...READONLY_PATHS],
    },
  };
}
