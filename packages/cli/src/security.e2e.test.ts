import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, events, kiln } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
let root: string;
let contextFlags: string[];

beforeAll(async () => {
  tmp = await makeTempDir("cli-security");
  root = join(tmp.path, "store");
  contextFlags = await busybox(tmp.path);
}, 60_000);
afterAll(() => tmp?.cleanup());

async function build(name: string, dockerfile: string, flags: string[] = []) {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), dockerfile);
  const out = join(tmp.path, `out-${name}`);
  const r = await kiln([
    "build",
    "--root",
    root,
    "--progress",
    "rawjson",
    ...contextFlags,
    ...flags,
    "-o",
    `type=local,dest=${out}`,
    dir,
  ]);
  return { ...r, out, dir, started: events(r.stderr).filter((e) => e.type === "vertex.started") };
}

// Mounting a file system needs CAP_SYS_ADMIN, which only an insecure step has.
const MOUNT_TMPFS = "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && touch /mnt/t/x && umount /mnt/t";

describe("RUN --security and --allow entitlements", () => {
  it("--security=insecure runs with every capability once --allow security.insecure is given", async () => {
    const r = await build(
      "insecure",
      [
        "FROM busybox",
        `RUN --security=insecure ${MOUNT_TMPFS} && grep CapBnd /proc/self/status > /insecure-caps`,
        // The default sandbox (also when named) keeps Docker's capability set and no extra devices.
        "RUN grep CapBnd /proc/self/status > /sandbox-caps && test ! -e /dev/fuse",
        "RUN --security=sandbox grep CapBnd /proc/self/status > /named-sandbox-caps",
        // BuildKit's insecure device nodes.
        "RUN --security=insecure test -c /dev/fuse && test -c /dev/loop-control && test -b /dev/loop0",
        // Nothing is masked or made read-only below /proc in insecure mode, and /sys is writable.
        "RUN grep ' /proc/\\| /sys ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1 > /sandbox-mounts",
        "RUN --security=insecure grep ' /proc/\\| /sys ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1 > /insecure-mounts",
      ].join("\n"),
      ["--allow", "security.insecure"],
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(r.out, "sandbox-caps"), "utf8")).toBe("CapBnd:\t00000000a80425fb\n");
    expect(await readFile(join(r.out, "named-sandbox-caps"), "utf8")).toBe("CapBnd:\t00000000a80425fb\n");
    const caps = (await readFile(join(r.out, "insecure-caps"), "utf8")).trim().split("\t")[1] ?? "0";
    expect(BigInt(`0x${caps}`) & (1n << 21n)).toBe(1n << 21n); // CAP_SYS_ADMIN
    const sandboxMounts = (await readFile(join(r.out, "sandbox-mounts"), "utf8")).trim().split("\n");
    expect(sandboxMounts).toEqual(expect.arrayContaining(["/sys ro", "/proc/sys ro"]));
    expect((await readFile(join(r.out, "insecure-mounts"), "utf8")).trim().split("\n")).toEqual(["/sys rw"]);
  }, 60_000);

  it("the same step fails in the default sandbox", async () => {
    const r = await build("sandbox", `FROM busybox\nRUN ${MOUNT_TMPFS}\n`, ["--allow", "security.insecure"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/did not complete successfully/);
  }, 60_000);

  it("without --allow, insecure and host-network steps fail before any step runs", async () => {
    const insecure = await build(
      "not-allowed",
      `FROM busybox\nRUN echo first > /first\nRUN --security=insecure ${MOUNT_TMPFS}\n`,
    );
    expect(insecure.code).toBe(1);
    expect(insecure.stderr).toContain("entitlement security.insecure is not allowed");
    expect(insecure.stderr).toContain(`${join(insecure.dir, "Dockerfile")}:3: RUN`);
    expect(insecure.stderr).toContain("--allow security.insecure");
    expect(insecure.started).toEqual([]);

    const host = await build("host-not-allowed", "FROM busybox\nRUN --network=host true\n", [
      "--allow",
      "security.insecure",
    ]);
    expect(host.code).toBe(1);
    expect(host.stderr).toContain("entitlement network.host is not allowed");
    expect(host.started).toEqual([]);

    const allowed = await build("host-allowed", "FROM busybox\nRUN --network=host echo ok > /ok\n", [
      "--allow",
      "network.host",
    ]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(await readFile(join(allowed.out, "ok"), "utf8")).toBe("ok\n");
  }, 60_000);

  it("rejects an unknown entitlement", async () => {
    const r = await build("unknown", "FROM busybox\nRUN true\n", ["--allow", "device.everything"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--allow: unknown entitlement device.everything");
  }, 60_000);
});
