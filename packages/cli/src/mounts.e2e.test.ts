import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, kiln } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
let root: string;
let contextFlags: string[];

beforeAll(async () => {
  tmp = await makeTempDir("cli-mounts");
  root = join(tmp.path, "store");
  contextFlags = await busybox(tmp.path);
}, 60_000);
afterAll(() => tmp?.cleanup());

async function build(name: string, dockerfile: string, files: Record<string, string> = {}) {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), dockerfile);
  for (const [path, content] of Object.entries(files)) await writeFile(join(dir, path), content);
  const out = join(tmp.path, `out-${name}`);
  const r = await kiln(["build", "--root", root, ...contextFlags, "-o", `type=local,dest=${out}`, dir]);
  return { ...r, out };
}

describe("RUN --mount", () => {
  it("cache mounts persist across builds and never land in the image", async () => {
    const first = await build(
      "cache1",
      "FROM busybox\nRUN --mount=type=cache,target=/cache echo one >> /cache/log && cp /cache/log /seen1\n",
    );
    expect(first.code, first.stderr).toBe(0);
    const second = await build(
      "cache2",
      "FROM busybox\nRUN --mount=type=cache,target=/cache echo two >> /cache/log && cp /cache/log /seen2\n",
    );
    expect(second.code, second.stderr).toBe(0);
    expect(await readFile(join(second.out, "seen2"), "utf8")).toBe("one\ntwo\n");
    expect(existsSync(join(second.out, "cache"))).toBe(false);
  }, 60_000);

  it("tmpfs mounts are empty scratch space; bind mounts read the context read-only", async () => {
    const r = await build(
      "tmpfs-bind",
      [
        "FROM busybox",
        "RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && ls /scratch > /tmpfs.txt",
        "RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt > /bound.txt && ! touch /mnt/data.txt",
      ].join("\n"),
      { "data.txt": "from the context\n" },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(r.out, "tmpfs.txt"), "utf8")).toBe("x\n");
    expect(existsSync(join(r.out, "scratch"))).toBe(false);
    expect(await readFile(join(r.out, "bound.txt"), "utf8")).toBe("from the context\n");
    expect(existsSync(join(r.out, "mnt"))).toBe(false);
  }, 60_000);

  it("sharing=locked serialises two concurrent builds using the same cache", async () => {
    const step = (tag: string) =>
      `FROM busybox\nRUN --mount=type=cache,target=/c,id=shared-lock,sharing=locked echo ${tag} start $(date +%s%N) >> /c/log && sleep 1 && echo ${tag} end $(date +%s%N) >> /c/log\n`;
    const [a, b] = await Promise.all([build("lock-a", step("a")), build("lock-b", step("b"))]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const check = await build(
      "lock-check",
      "FROM busybox\nRUN --mount=type=cache,target=/c,id=shared-lock cp /c/log /log\n",
    );
    expect(check.code, check.stderr).toBe(0);
    const lines = (await readFile(join(check.out, "log"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => l.split(" "));
    expect(lines.map((l) => l[1])).toEqual(["start", "end", "start", "end"]);
    expect(lines[0]?.[0]).toBe(lines[1]?.[0]);
    expect(lines[2]?.[0]).toBe(lines[3]?.[0]);
  }, 60_000);
});
