import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KilnError } from "@kiln/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../testkit/src/index.js";
import type { ContainerView } from "./safe-path.js";
import { parseGroup, parsePasswd, resolveUser } from "./user.js";

const PASSWD = `root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
builder:x:1000:1000::/home/builder:/bin/sh
broken line
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`;
const GROUP = `root:x:0:
daemon:x:1:builder
builder:x:1000:
docker:x:999:builder,other
wheel:x:10:other
nogroup:x:65534:
`;

describe("resolveUser", () => {
  let dir: TempDir;
  let view: ContainerView;
  beforeEach(async () => {
    dir = await makeTempDir("executor-user");
    const rootfs = join(dir.path, "rootfs");
    await mkdir(join(rootfs, "etc"), { recursive: true });
    await writeFile(join(rootfs, "etc", "passwd"), PASSWD);
    await writeFile(join(rootfs, "etc", "group"), GROUP);
    view = { rootfs, mounts: [] };
  });
  afterEach(() => dir.cleanup());

  it("defaults to root without reading any file", async () => {
    expect(await resolveUser({ rootfs: "/nonexistent", mounts: [] }, undefined)).toEqual({
      uid: 0,
      gid: 0,
      additionalGids: [],
    });
  });

  it("resolves a name with its primary group and the groups listing it", async () => {
    expect(await resolveUser(view, "builder")).toEqual({ uid: 1000, gid: 1000, additionalGids: [1, 999] });
    expect(await resolveUser(view, "nobody")).toEqual({ uid: 65534, gid: 65534, additionalGids: [] });
  });

  it("takes a numeric uid with or without a passwd entry", async () => {
    expect(await resolveUser(view, "1000")).toEqual({ uid: 1000, gid: 1000, additionalGids: [1, 999] });
    expect(await resolveUser(view, "4242")).toEqual({ uid: 4242, gid: 0, additionalGids: [] });
  });

  it("uses an explicit group and then adds no supplementary groups", async () => {
    expect(await resolveUser(view, "builder:wheel")).toEqual({ uid: 1000, gid: 10, additionalGids: [] });
    expect(await resolveUser(view, "builder:4000")).toEqual({ uid: 1000, gid: 4000, additionalGids: [] });
    expect(await resolveUser(view, "1:docker")).toEqual({ uid: 1, gid: 999, additionalGids: [] });
  });

  it("needs no files for uid:gid", async () => {
    expect(await resolveUser({ rootfs: "/nonexistent", mounts: [] }, "123:456")).toEqual({
      uid: 123,
      gid: 456,
      additionalGids: [],
    });
  });

  it("reports unknown users and groups clearly", async () => {
    const err = await resolveUser(view, "nosuchuser").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KilnError);
    expect(err).toMatchObject({
      code: "NOT_FOUND",
      message: "unable to find user nosuchuser: no matching entries in passwd file",
    });
    await expect(resolveUser(view, "builder:nosuchgroup")).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: "unable to find group nosuchgroup: no matching entries in group file",
    });
    await expect(resolveUser(view, "99999999999")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("never reads passwd files outside the rootfs through symlinks", async () => {
    const outside = join(dir.path, "outside");
    await mkdir(outside);
    await writeFile(join(outside, "passwd"), "evil:x:4444:4444::/:/bin/sh\n");
    const rootfs = join(dir.path, "hostile");
    await mkdir(rootfs);
    // `..` above the root stays at the root, so this names <rootfs>/outside/passwd, which is missing.
    await symlink("../../../../../../../..", join(rootfs, "up"));
    await symlink(`up${outside}`, join(rootfs, "etc"));
    await expect(resolveUser({ rootfs, mounts: [] }, "evil")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("parses passwd and group files leniently", () => {
    expect(parsePasswd(PASSWD).map((e) => e.name)).toEqual(["root", "daemon", "builder", "nobody"]);
    expect(parseGroup(GROUP).find((g) => g.name === "docker")?.members).toEqual(["builder", "other"]);
  });
});
