import { lstat, mkdir, readdir, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../testkit/src/index.js";
import {
  type ContainerView,
  mkdirInContainer,
  readFileInContainer,
  resolveInContainer,
} from "./safe-path.js";

describe("container path resolution", () => {
  let dir: TempDir;
  let rootfs: string;
  let view: ContainerView;
  beforeEach(async () => {
    dir = await makeTempDir("executor-safe-path");
    rootfs = join(dir.path, "rootfs");
    await mkdir(join(rootfs, "usr", "lib"), { recursive: true });
    await symlink("/", join(rootfs, "escape"));
    await symlink("../../../../..", join(rootfs, "usr", "up"));
    await symlink("/usr/lib", join(rootfs, "lib"));
    view = { rootfs, mounts: [] };
  });
  afterEach(() => dir.cleanup());

  it("follows symlinks chroot-style, never above the rootfs", async () => {
    expect(await resolveInContainer(view, "/escape/usr/lib/x")).toMatchObject({
      path: "/usr/lib/x",
      host: join(rootfs, "usr/lib/x"),
    });
    expect((await resolveInContainer(view, "/usr/up/lib/../../etc")).path).toBe("/etc");
    expect((await resolveInContainer(view, "../../lib/a")).path).toBe("/usr/lib/a");
    // `..` after a symlink applies to the target, as in the kernel: /lib -> /usr/lib, so /lib/.. is /usr.
    expect((await resolveInContainer(view, "/lib/../x")).path).toBe("/usr/x");
  });

  it("creates a working directory through a symlink to / inside the rootfs only", async () => {
    const name = `kiln-executor-escape-${process.pid}`;
    const cwd = await mkdirInContainer(view, `/escape/tmp/${name}`, { uid: 65534, gid: 65534 });
    expect(cwd).toBe(`/tmp/${name}`);
    const created = await stat(join(rootfs, "tmp", name));
    expect([created.isDirectory(), created.uid, created.gid]).toEqual([true, 65534, 65534]);
    await expect(lstat(`/tmp/${name}`)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses paths into /proc, /sys and /dev, also through symlinks", async () => {
    await symlink("/proc/self/fd", join(rootfs, "fds"));
    await symlink("../dev/fd/7", join(rootfs, "usr", "devfd"));
    for (const path of ["/proc/self/fd/7", "/fds/7", "/usr/devfd", "/sys/fs", "/usr/../proc"]) {
      await expect(mkdirInContainer(view, path, { uid: 0, gid: 0 })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    }
    expect(await readdir(rootfs)).not.toContain("proc");
  });

  it("crosses into mount sources and leaves read-only mounts alone", async () => {
    const data = join(dir.path, "data");
    const ro = join(dir.path, "ro");
    await mkdir(data);
    await mkdir(ro);
    const mounted: ContainerView = {
      rootfs,
      mounts: [
        { dest: "/data", source: data, readonly: false },
        { dest: "/data/ro", source: ro, readonly: true },
      ],
    };
    expect(await mkdirInContainer(mounted, "/usr/lib/../../data/w", { uid: 0, gid: 0 })).toBe("/data/w");
    expect((await stat(join(data, "w"))).isDirectory()).toBe(true);
    expect(await mkdirInContainer(mounted, "/data/ro/sub", { uid: 0, gid: 0 })).toBe("/data/ro/sub");
    expect(await readdir(ro)).toEqual([]);
    await writeFile(join(data, "file"), "x");
    await expect(mkdirInContainer(mounted, "/data/file", { uid: 0, gid: 0 })).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
    });
  });

  it("reads only regular files", async () => {
    await mkdir(join(rootfs, "etc"));
    await writeFile(join(rootfs, "etc", "passwd"), "root:x:0:0::/:/bin/sh\n");
    expect(await readFileInContainer(view, "/escape/etc/passwd")).toContain("root:x:0:0");
    expect(await readFileInContainer(view, "/etc")).toBeUndefined();
    expect(await readFileInContainer(view, "/etc/missing")).toBeUndefined();
  });
});
