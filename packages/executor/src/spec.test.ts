import { describe, expect, it } from "vitest";
import { capabilitiesOfMask } from "./insecure.js";
import { buildSpec, DEFAULT_CAPABILITIES, type SpecInput, withDefaultPath } from "./spec.js";

const input: SpecInput = {
  rootPath: "/rootfs",
  rootReadonly: false,
  args: ["sh"],
  env: ["A=1"],
  cwd: "/",
  user: { uid: 1, gid: 2, additionalGids: [3] },
  hostname: "h",
  network: "sandbox",
  mounts: [{ destination: "/etc/hosts", type: "bind", source: "/b/etc/hosts", options: ["rbind", "ro"] }],
};

type Spec = {
  process: { env: string[]; user: unknown; capabilities: Record<string, string[]>; noNewPrivileges: boolean };
  linux: {
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    resources: { devices: { allow: boolean; type?: string }[] };
    devices?: { path: string }[];
  };
  mounts: { destination: string; options: string[] }[];
};

describe("buildSpec", () => {
  it("creates a network namespace only for network none", () => {
    const types = (network: SpecInput["network"]) =>
      (buildSpec({ ...input, network }) as Spec).linux.namespaces.map((n) => n.type);
    expect(types("none")).toEqual(["pid", "ipc", "uts", "mount", "network"]);
    expect(types("host")).toEqual(["pid", "ipc", "uts", "mount"]);
    expect(types("sandbox")).toEqual(["pid", "ipc", "uts", "mount"]);
  });

  it("uses Docker's defaults for capabilities, masked and read-only paths", () => {
    const spec = buildSpec(input) as Spec;
    expect(spec.process.capabilities.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(spec.process.capabilities.bounding).not.toContain("CAP_SYS_ADMIN");
    expect(spec.process.noNewPrivileges).toBe(false);
    expect(spec.process.user).toEqual({ uid: 1, gid: 2, additionalGids: [3] });
    expect(spec.linux.maskedPaths).toContain("/proc/kcore");
    expect(spec.linux.readonlyPaths).toContain("/proc/sys");
    expect(spec.mounts.map((m) => m.destination)).toEqual([
      "/proc",
      "/dev",
      "/dev/pts",
      "/dev/shm",
      "/dev/mqueue",
      "/sys",
      "/sys/fs/cgroup",
      "/etc/hosts",
    ]);
  });

  it("insecure mode: kiln's own capabilities, nothing masked or read-only, writable /sys, all devices", () => {
    const spec = buildSpec({ ...input, security: "insecure" }) as Spec;
    const caps = spec.process.capabilities;
    // The test runs as root: kiln's own effective set includes CAP_SYS_ADMIN.
    expect(caps.bounding).toContain("CAP_SYS_ADMIN");
    for (const set of ["effective", "permitted", "inheritable", "ambient"])
      expect(caps[set]).toEqual(caps.bounding);
    expect(spec.linux.maskedPaths).toEqual([]);
    expect(spec.linux.readonlyPaths).toEqual([]);
    const options = (dest: string) => spec.mounts.find((m) => m.destination === dest)?.options;
    expect(options("/sys")).not.toContain("ro");
    expect(options("/sys/fs/cgroup")).not.toContain("ro");
    expect(spec.linux.resources.devices).toEqual([
      { allow: true, type: "c", access: "rwm" },
      { allow: true, type: "b", access: "rwm" },
    ]);
    expect(spec.linux.devices?.map((d) => d.path)).toContain("/dev/fuse");
    // The sandbox default keeps /sys read-only.
    expect((buildSpec(input) as Spec).mounts.find((m) => m.destination === "/sys")?.options).toContain("ro");
  });

  it("maps an effective capability mask to names", () => {
    // Docker's default set, as /proc/self/status shows it in a default container.
    expect(capabilitiesOfMask("00000000a80425fb").sort()).toEqual([...DEFAULT_CAPABILITIES].sort());
    expect(capabilitiesOfMask("0")).toEqual([]);
  });

  it("adds the default PATH only when missing", () => {
    expect(withDefaultPath(["A=1"])).toEqual([
      "A=1",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
    expect(withDefaultPath(["PATH=/x"])).toEqual(["PATH=/x"]);
  });
});
