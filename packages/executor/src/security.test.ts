import { lstat, mkdir, readdir, stat, symlink } from "node:fs/promises";
import { join } from "node:path";
import type { ExecMount, ExecRequest } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../testkit/src/index.js";
import { createRuncExecutor, type RuncExecutor } from "./executor.js";
import { busyboxTree, collector, copyTree, leftovers, NOTHING_LEFT } from "./rootfs.test-helpers.js";

/** Hostile input: none of it may touch the host, and each failure must say what went wrong. */
describe("runc executor: bad input (real runc)", () => {
  let fixture: TempDir & { tree: string };
  let work: TempDir;
  let executor: RuncExecutor;
  let root: string;
  let n = 0;
  const marker = `kiln-executor-security-${process.pid}`;

  beforeAll(async () => {
    fixture = await busyboxTree();
    work = await makeTempDir("executor-security");
    root = join(work.path, "state");
    executor = createRuncExecutor({ root });
  });
  afterAll(async () => {
    await work.cleanup();
    await fixture.cleanup();
  });

  async function rootfsWith(links: Record<string, string> = {}): Promise<string> {
    const rootfs = await copyTree(fixture.tree, join(work.path, `rootfs-${++n}`));
    for (const [path, target] of Object.entries(links)) await symlink(target, join(rootfs, path));
    return rootfs;
  }

  async function run(
    rootfs: string,
    args: string[],
    o: { cwd?: string; user?: string; mounts?: ExecMount[] } = {},
  ) {
    const stdout = collector();
    const stderr = collector();
    const req: ExecRequest = {
      rootfs: [{ type: "bind", source: rootfs, options: ["rbind"] }],
      mounts: o.mounts ?? [],
      process: { args, env: [], cwd: o.cwd ?? "/", user: o.user },
      stdout: stdout.push,
      stderr: stderr.push,
    };
    const { exitCode } = await executor.run(req);
    return { exitCode, stdout: stdout.text(), stderr: stderr.text() };
  }

  const hostHas = (path: string) =>
    lstat(path).then(
      () => true,
      () => false,
    );

  it("keeps a working directory through a symlink to / inside the rootfs", async () => {
    const rootfs = await rootfsWith({ escape: "/", up: "../../../../../../.." });
    for (const cwd of [`/escape/tmp/${marker}`, `/up/tmp/${marker}-up`]) {
      const r = await run(rootfs, ["sh", "-c", "pwd; touch here"], { cwd });
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toBe(`${cwd.replace(/^\/(escape|up)/, "")}\n`);
    }
    expect((await readdir(join(rootfs, "tmp"))).sort()).toEqual([marker, `${marker}-up`]);
    expect((await stat(join(rootfs, "tmp", marker, "here"))).isFile()).toBe(true);
    expect(await hostHas(`/tmp/${marker}`)).toBe(false);
    expect(await hostHas(`/tmp/${marker}-up`)).toBe(false);
  });

  it("refuses /proc/self/fd working directories (CVE-2024-21626 style), also through links", async () => {
    const rootfs = await rootfsWith({ work: "/proc/self/fd/7", devfd: "dev/fd/8" });
    for (const cwd of ["/proc/self/fd/7", "/work", "/devfd", "/dev/fd/7", "/tmp/../proc/1/cwd"]) {
      const err = await run(rootfs, ["pwd"], { cwd }).catch((e: unknown) => e);
      expect(err, cwd).toMatchObject({ code: "INVALID_ARGUMENT" });
      expect(String((err as Error).message)).toMatch(/runtime mounts itself/);
    }
    expect((await readdir(rootfs)).sort()).toEqual(["bin", "devfd", "etc", "tmp", "work"]);
    expect(await leftovers(root)).toEqual(NOTHING_LEFT);
  });

  it("keeps mount destinations through hostile links inside the rootfs", async () => {
    const rootfs = await rootfsWith({ link: "/../../../../tmp" });
    const data = join(work.path, "data");
    await mkdir(data, { recursive: true });
    const mounts: ExecMount[] = [
      { dest: `/link/${marker}`, mounts: [{ type: "bind", source: data, options: [] }] },
    ];
    const r = await run(rootfs, ["sh", "-c", `echo hi > /tmp/${marker}/f`], { mounts });
    expect(r.exitCode).toBe(0);
    expect(await readdir(data)).toEqual(["f"]);
    expect(await hostHas(`/tmp/${marker}`)).toBe(false);
    // The mount point was only a stub: it is gone from the rootfs again.
    expect(await readdir(join(rootfs, "tmp"))).toEqual([]);
  });

  it("reports an unknown USER before starting anything", async () => {
    const rootfs = await rootfsWith();
    await expect(run(rootfs, ["id"], { user: "nosuchuser" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: "unable to find user nosuchuser: no matching entries in passwd file",
    });
    expect(await leftovers(root)).toEqual(NOTHING_LEFT);
  });

  it("reports a missing binary with the runtime's message", async () => {
    const rootfs = await rootfsWith();
    const stderr = collector();
    const err = await executor
      .run({
        rootfs: [{ type: "bind", source: rootfs, options: [] }],
        mounts: [],
        process: { args: ["nosuch", "arg"], env: [], cwd: "/" },
        stderr: stderr.push,
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "NOT_FOUND", details: { exitCode: 1, args: ["nosuch", "arg"] } });
    expect((err as Error).message).toBe(
      'process "nosuch arg" could not be started: unable to start container process: exec: "nosuch": executable file not found in $PATH',
    );
    // The runtime's own message also reaches the step log, as in BuildKit.
    expect(stderr.text()).toContain('exec: "nosuch": executable file not found in $PATH');
    expect(await leftovers(root)).toEqual(NOTHING_LEFT);
    expect((await readdir(rootfs)).sort()).toEqual(["bin", "etc", "tmp"]);
  });

  it("returns the shell's 127 for a missing command in shell form", async () => {
    const r = await run(await rootfsWith(), ["sh", "-c", "nosuch"]);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toMatch(/nosuch: not found/);
  });
});
