import { existsSync } from "node:fs";
import { chown, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
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

  it("rw bind mounts take writes during the step, which reach neither the image nor the source", async () => {
    // A context file of another owner keeps it in the copy; a .dockerignore'd file is not there.
    await mkdir(join(tmp.path, "bind-rw"), { recursive: true });
    await writeFile(join(tmp.path, "bind-rw", "owned.txt"), "owned\n");
    await chown(join(tmp.path, "bind-rw", "owned.txt"), 1234, 5678);
    const r = await build(
      "bind-rw",
      [
        "FROM busybox AS stage",
        "RUN mkdir /data && echo original > /data/f",
        "FROM busybox",
        // Context: write, append and delete; the step itself sees its writes.
        "RUN --mount=type=bind,target=/ctx,rw echo changed > /ctx/data.txt && touch /ctx/new && rm /ctx/other.txt && cat /ctx/data.txt > /seen-ctx && ls /ctx > /ls-ctx && stat -c '%u %g' /ctx/owned.txt > /owner",
        // The next step sees the context unchanged.
        "RUN --mount=type=bind,target=/ctx cat /ctx/data.txt > /after-ctx && ls /ctx > /ls-after && ! touch /ctx/x",
        // A stage as the source, with readwrite=true and a sub-path.
        "RUN --mount=type=bind,from=stage,source=/data,target=/d,readwrite=true echo more >> /d/f && cat /d/f > /seen-stage",
        "RUN --mount=type=bind,from=stage,source=/data,target=/d cat /d/f > /after-stage",
        // A single file, writable.
        "RUN --mount=type=bind,source=data.txt,target=/one.txt,rw echo x >> /one.txt && cat /one.txt > /seen-file",
      ].join("\n"),
      {
        "data.txt": "from the context\n",
        "other.txt": "other\n",
        "ignored.txt": "ignored\n",
        ".dockerignore": "ignored.txt\n",
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const read = (name: string) => readFile(join(r.out, name), "utf8");
    expect(await read("seen-ctx")).toBe("changed\n");
    expect((await read("ls-ctx")).split("\n")).toContain("new");
    expect((await read("ls-ctx")).split("\n")).not.toContain("ignored.txt");
    expect(await read("owner")).toBe("1234 5678\n");
    expect(await read("after-ctx")).toBe("from the context\n");
    expect((await read("ls-after")).split("\n")).toEqual(expect.arrayContaining(["data.txt", "other.txt"]));
    expect((await read("ls-after")).split("\n")).not.toContain("new");
    // Read-only too, the context is what BuildKit would transfer: without .dockerignore'd files.
    expect((await read("ls-after")).split("\n")).not.toContain("ignored.txt");
    expect(await read("seen-stage")).toBe("original\nmore\n");
    expect(await read("after-stage")).toBe("original\n");
    expect(await read("seen-file")).toBe("from the context\nx\n");
    for (const gone of ["ctx", "d", "one.txt"]) expect(existsSync(join(r.out, gone)), gone).toBe(false);
    // The user's context directory is untouched.
    const dir = join(tmp.path, "bind-rw");
    expect(await readFile(join(dir, "data.txt"), "utf8")).toBe("from the context\n");
    expect(existsSync(join(dir, "other.txt"))).toBe(true);
    expect(existsSync(join(dir, "new"))).toBe(false);
    // The throw-away copies are deleted after their step.
    expect((await readdir(root)).filter((n) => n.startsWith("rw-mount-"))).toEqual([]);
  }, 60_000);

  it("cache mounts with uid/gid/mode are created with that owner and mode; from= seeds a new cache", async () => {
    const r = await build(
      "cache-owner",
      [
        "FROM busybox AS seed",
        "RUN mkdir -p /seed/sub && echo seeded > /seed/sub/file",
        "FROM busybox",
        "RUN --mount=type=cache,target=/c,uid=1234,gid=5678,mode=0750 stat -c '%u %g %a' /c > /owner && touch /c/written",
        // Same id, no options: a different cache (BuildKit keys a seeded cache by its source too).
        "RUN --mount=type=cache,target=/c stat -c '%u %g %a' /c > /plain && ls -A /c > /plain-ls",
        // The options apply when the cache is created; the second use sees the file the first wrote.
        "RUN --mount=type=cache,target=/c,uid=1234,gid=5678,mode=0750 ls /c > /again",
        "RUN --mount=type=cache,target=/s,id=seeded,from=seed,source=/seed cat /s/sub/file > /from-seed && echo mine > /s/mine",
        "RUN --mount=type=cache,target=/s,id=seeded,from=seed,source=/seed ls /s > /seed-ls",
      ].join("\n"),
    );
    expect(r.code, r.stderr).toBe(0);
    const read = (name: string) => readFile(join(r.out, name), "utf8");
    expect(await read("owner")).toBe("1234 5678 750\n");
    expect(await read("plain")).toBe("0 0 755\n");
    expect(await read("plain-ls")).toBe("");
    expect(await read("again")).toBe("written\n");
    expect(await read("from-seed")).toBe("seeded\n");
    expect(await read("seed-ls")).toBe("mine\nsub\n");
    expect(existsSync(join(r.out, "c"))).toBe(false);
    expect(existsSync(join(r.out, "s"))).toBe(false);
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
