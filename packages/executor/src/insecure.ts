import { readFileSync } from "node:fs";

/**
 * RUN --security=insecure, as BuildKit's insecure mode sets up the container: the capabilities of the
 * builder process itself, no masked or read-only kernel paths, writable /sys and cgroup file systems,
 * every character and block device allowed, and the device nodes BuildKit adds (fuse, loop, tun, kvm,
 * ...) when not running in a user namespace.
 */

/** Linux capability names by bit number (`include/uapi/linux/capability.h`). */
const CAPABILITY_NAMES: readonly string[] = [
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "KILL",
  "SETGID",
  "SETUID",
  "SETPCAP",
  "LINUX_IMMUTABLE",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_ADMIN",
  "NET_RAW",
  "IPC_LOCK",
  "IPC_OWNER",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_CHROOT",
  "SYS_PTRACE",
  "SYS_PACCT",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_NICE",
  "SYS_RESOURCE",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "MKNOD",
  "LEASE",
  "AUDIT_WRITE",
  "AUDIT_CONTROL",
  "SETFCAP",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "AUDIT_READ",
  "PERFMON",
  "BPF",
  "CHECKPOINT_RESTORE",
].map((n) => `CAP_${n}`);

/** Capability names of an effective-set bit mask as /proc/<pid>/status shows it (hex). */
export function capabilitiesOfMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return CAPABILITY_NAMES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** The capabilities kiln itself holds: what an insecure step gets (BuildKit grants its own set too). */
export function ownCapabilities(): string[] {
  const status = readFileSync("/proc/self/status", "utf8");
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0";
  return capabilitiesOfMask(hex);
}

/** Whether kiln runs in a user namespace (rootless), where device nodes cannot be created. */
export function inUserNamespace(): boolean {
  try {
    const map = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
    return !(map[0] === "0" && map[1] === "0" && map[2] === "4294967295");
  } catch {
    return true;
  }
}

interface LinuxDevice {
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
}

/** Device nodes BuildKit creates in insecure mode (loop devices: the first eight). */
export function insecureDevices(): LinuxDevice[] {
  if (inUserNamespace()) return [];
  const devices: LinuxDevice[] = [
    { path: "/dev/kmsg", type: "c", major: 1, minor: 11 },
    { path: "/dev/cuse", type: "c", major: 10, minor: 203 },
    { path: "/dev/fuse", type: "c", major: 10, minor: 229 },
    { path: "/dev/kvm", type: "c", major: 10, minor: 232 },
    { path: "/dev/net/tun", type: "c", major: 10, minor: 200 },
    { path: "/dev/loop-control", type: "c", major: 10, minor: 237 },
  ];
  for (let i = 0; i < 8; i++) devices.push({ path: `/dev/loop${i}`, type: "b", major: 7, minor: i });
  return devices;
}
