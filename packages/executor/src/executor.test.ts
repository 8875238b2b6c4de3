import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ExecMount, ExecRequest, Mount, NetworkMode } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../testkit/src/index.js";
import { createRuncExecutor, type RuncExecutor } from "./executor.js";
import { busyboxTree, collector, copyTree, leftovers, NOTHING_LEFT } from "./rootfs.test-helpers.js";

interface RunOptions {
  readonly env?: string[];
  readonly cwd?: string;
  readonly user?: string;
  readonly network?: NetworkMode;
  readonly hostname?: string;
  readonly mounts?: ExecMount[];
  readonly rootfs?: Mount[];
  readonly signal?: AbortSignal;
}

describe("runc executor (real runc, busybox rootfs)", () => {
  let fixture: TempDir & { tree: string };
  let work: TempDir;
  let executor: RuncExecutor;
  let root: string;
  let n = 0;

  beforeAll(async () => {
    fixture = await busyboxTree();
    work = await makeTempDir("executor-run");
    root = join(work.path, "state");
    executor = createRuncExecutor({ root });
  });
  afterAll(async () => {
    await work.cleanup();
    await fixture.cleanup();
  });

  const newRootfs = () => copyTree(fixture.tree, join(work.path, `rootfs-${++n}`));

  async function sh(script: string, o: RunOptions = {}) {
    const rootfsDir = o.rootfs ? undefined : await newRootfs();
    const stdout = collector();
    const stderr = collector();
    const req: ExecRequest = {
      rootfs: o.rootfs ?? [{ type: "bind", source: rootfsDir as string, options: ["rbind"] }],
      mounts: o.mounts ?? [],
      process: { args: ["sh", "-c", script], env: o.env ?? [], cwd: o.cwd ?? "/", user: o.user },
      network: o.network,
      hostname: o.hostname,
      stdout: stdout.push,
      stderr: stderr.push,
    };
    const { exitCode } = await executor.run(req, { signal: o.signal });
    return { exitCode, stdout: stdout.text(), stderr: stderr.text(), rootfs: rootfsDir as string };
  }

  it("streams stdout and stderr in order and returns exit codes", async () => {
    const r = await sh("echo one; echo err1 >&2; echo two; echo err2 >&2; exit 3");
    expect(r).toMatchObject({ exitCode: 3, stdout: "one\ntwo\n", stderr: "err1\nerr2\n" });
    expect((await sh("true")).exitCode).toBe(0);
    // The process of a container cannot SIGKILL itself (it is the init of its pid namespace): kill it
    // from the host, as an OOM kill would.
    const killed = sh("sleep 123.456");
    await killByCmdline("123.456");
    expect((await killed).exitCode).toBe(137);
    expect(await leftovers(root)).toEqual(NOTHING_LEFT);
  });

  it("delivers output while the process is still running", async () => {
    const rootfs = await newRootfs();
    let firstChunkAt = 0;
    const started = Date.now();
    const run = executor.run({
      rootfs: [{ type: "bind", source: rootfs, options: ["rbind"] }],
      mounts: [],
      process: { args: ["sh", "-c", "echo early; sleep 1; echo late"], env: [], cwd: "/" },
      stdout: () => {
        firstChunkAt ||= Date.now();
      },
    });
    await run;
    expect(firstChunkAt - started).toBeLessThan(Date.now() - started - 500);
  });

  it("runs containers in parallel", async () => {
    const started = Date.now();
    const results = await Promise.all([1, 2, 3].map((i) => sh(`sleep 1; echo ${i}`)));
    expect(results.map((r) => r.stdout)).toEqual(["1\n", "2\n", "3\n"]);
    expect(Date.now() - started).toBeLessThan(2900);
  });

  it("adds the default PATH only when the environment has none", async () => {
    expect((await sh("echo $PATH; echo $FOO", { env: ["FOO=bar"] })).stdout).toBe(
      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nbar\n",
    );
    expect((await sh("echo $PATH", { env: ["PATH=/bin"] })).stdout).toBe("/bin\n");
  });

  it("creates a missing working directory owned by the user", async () => {
    const r = await sh("pwd; id -u; touch file", { cwd: "/work/dir", user: "nobody" });
    expect(r.stdout).toBe("/work/dir\n65534\n");
    const created = await stat(join(r.rootfs, "work", "dir"));
    expect([created.uid, created.gid]).toEqual([65534, 65534]);
    expect((await stat(join(r.rootfs, "work", "dir", "file"))).uid).toBe(65534);
  });

  it("runs as users given by name or uid:gid", async () => {
    expect((await sh("id -u; id -g", { user: "nobody" })).stdout).toBe("65534\n65534\n");
    expect((await sh("id -u; id -g", { user: "1234:5678" })).stdout).toBe("1234\n5678\n");
    expect((await sh("id -u; id -g", { user: "nobody:root" })).stdout).toBe("65534\n0\n");
  });

  it("sets the hostname, /etc/hosts, /etc/hostname and /etc/resolv.conf", async () => {
    const r = await sh("uname -n; cat /etc/hostname; cat /etc/hosts; cat /etc/resolv.conf");
    const hostResolv = await readFile("/etc/resolv.conf", "utf8").catch(() => "");
    expect(r.stdout).toBe(
      `buildkitsandbox\nbuildkitsandbox\n127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n${hostResolv}`,
    );
    expect((await sh("uname -n", { hostname: "builder1" })).stdout).toBe("builder1\n");
    const ro = await sh("echo x > /etc/hosts");
    expect(ro.exitCode).not.toBe(0);
  });

  it("leaves no mount stubs in the rootfs", async () => {
    const r = await sh("ls /proc/self >/dev/null && test -c /dev/null && test -d /sys/fs && echo ok");
    expect(r.stdout).toBe("ok\n");
    expect((await readdir(r.rootfs)).sort()).toEqual(["bin", "etc", "tmp"]);
    expect((await readdir(join(r.rootfs, "etc"))).sort()).toEqual(["group", "passwd"]);
  });

  it("has only loopback with network none, and the host's interfaces otherwise", async () => {
    const none = await sh("sed -n '3,$s/:.*//p' /proc/net/dev", { network: "none" });
    expect(none.stdout.trim().split(/\s+/)).toEqual(["lo"]);
    const hostIfaces = (await readFile("/proc/net/dev", "utf8")).split("\n").slice(2).filter(Boolean).length;
    const sandbox = await sh("tail -n +3 /proc/net/dev | wc -l");
    expect(Number(sandbox.stdout.trim())).toBe(hostIfaces);
  });

  it("mounts extra binds read-only or read-write", async () => {
    const data = join(work.path, "data");
    await mkdir(data, { recursive: true });
    await writeFile(join(data, "in"), "hello\n");
    const bind = (readonly: boolean): ExecMount => ({
      dest: "/mnt/data",
      mounts: [{ type: "bind", source: data, options: ["rbind"] }],
      readonly,
    });
    const ro = await sh("cat /mnt/data/in; echo x > /mnt/data/out", { mounts: [bind(true)] });
    expect(ro.stdout).toBe("hello\n");
    expect(ro.stderr).toMatch(/read-only file system/i);
    expect(ro.exitCode).not.toBe(0);
    expect((await sh("echo x > /mnt/data/out", { mounts: [bind(false)] })).exitCode).toBe(0);
    expect(await readFile(join(data, "out"), "utf8")).toBe("x\n");
  });

  it("mounts an overlay rootfs and writes only to its upperdir", async () => {
    const base = join(work.path, "overlay");
    const [lower, upper, workdir] = ["lower", "upper", "work"].map((d) => join(base, d)) as [
      string,
      string,
      string,
    ];
    await mkdir(base, { recursive: true });
    await copyTree(fixture.tree, lower);
    await mkdir(upper);
    await mkdir(workdir);
    const rootfs: Mount[] = [
      {
        type: "overlay",
        source: "overlay",
        options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${workdir}`],
      },
    ];
    const r = await sh("echo made > /tmp/made; cat /etc/passwd | head -1", { rootfs });
    expect(r).toMatchObject({ exitCode: 0, stdout: "root:x:0:0:root:/root:/bin/sh\n" });
    expect(await readFile(join(upper, "tmp", "made"), "utf8")).toBe("made\n");
    // /etc was copied up only to hold the /etc/hosts stub: it is empty and keeps lower's times, so an
    // upperdir diff sees it unchanged.
    expect((await readdir(upper)).sort()).toEqual(["etc", "tmp"]);
    expect(await readdir(join(upper, "etc"))).toEqual([]);
    expect((await stat(join(upper, "etc"))).mtimeMs).toBe((await stat(join(lower, "etc"))).mtimeMs);
    expect(await leftovers(root)).toEqual(NOTHING_LEFT);
  });

  it("runs on a read-only rootfs without leaving mount stubs in it", async () => {
    const rootfs = await newRootfs();
    const r = await sh("touch /x || echo refused", {
      rootfs: [{ type: "bind", source: rootfs, options: ["rbind", "ro"] }],
    });
    expect(r.stdout).toBe("refused\n");
    expect((await readdir(rootfs)).sort()).toEqual(["bin", "etc", "tmp"]);
  });

  it("stops the container when an output callback throws", async () => {
    const rootfs = await newRootfs();
    const run = executor.run({
      rootfs: [{ type: "bind", source: rootfs, options: [] }],
      mounts: [],
      process: { args: ["sh", "-c", "echo x; sleep 100"], env: [], cwd: "/" },
      stdout: () => {
        throw new Error("consumer broke");
      },
    });
    await expect(run).rejects.toMatchObject({ code: "INTERNAL", cause: { message: "consumer broke" } });
    expect(await leftovers(root)).toEqual(NOTHING_LEFT);
  });

  it("kills the container on abort and leaves nothing behind", async () => {
    const controller = new AbortController();
    const started = Date.now();
    const run = sh("echo started; sleep 100", { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("test abort")), 300);
    await expect(run).rejects.toMatchObject({ code: "CANCELED" });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await leftovers(root)).toEqual(NOTHING_LEFT);
  });

  it("rejects an already aborted signal without starting anything", async () => {
    await expect(sh("true", { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: "CANCELED" });
  });
});

async function killByCmdline(marker: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    for (const pid of (await readdir("/proc")).filter((e) => /^\d+$/.test(e))) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
      if (cmdline === `sleep\0${marker}\0`) {
        process.kill(Number(pid), "SIGKILL");
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no process with ${marker} on its command line`);
}
