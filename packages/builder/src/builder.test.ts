import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildBusyboxLayout, makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBuilder } from "./builder.js";

let tmp: TempDir;
let busybox: string;

beforeAll(async () => {
  tmp = await makeTempDir("builder");
  await buildBusyboxLayout(join(tmp.path, "busybox"), { tag: "latest" });
  busybox = `oci-layout://${join(tmp.path, "busybox")}:latest`;
}, 60_000);
afterAll(() => tmp?.cleanup());

async function context(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(tmp.path, name);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

describe("createBuilder", () => {
  it("honours .dockerignore exceptions inside an excluded directory", async () => {
    const dir = await context("ignore", {
      Dockerfile: "FROM scratch\nCOPY . /\n",
      ".dockerignore": "logs\n!logs/keep.log\n*.tmp\n",
      "logs/keep.log": "keep\n",
      "logs/drop.log": "drop\n",
      "a.tmp": "tmp\n",
      "main.txt": "main\n",
    });
    const builder = createBuilder({ root: join(tmp.path, "store-ignore") });
    try {
      const out = join(tmp.path, "out-ignore");
      await builder.build({ contextDir: dir, outputs: [{ type: "local", attrs: { dest: out } }] });
      expect((await readdir(out)).sort()).toEqual([".dockerignore", "Dockerfile", "logs", "main.txt"]);
      expect(await readdir(join(out, "logs"))).toEqual(["keep.log"]);
    } finally {
      await builder.close();
    }
  }, 60_000);

  it("copies from a local named context and prunes the store", async () => {
    const dir = await context("named", {
      Dockerfile: "FROM busybox\nCOPY --from=extra data.txt /data.txt\n",
    });
    const extra = await context("extra-ctx", { "data.txt": "from a named context\n" });
    const root = join(tmp.path, "store-named");
    const builder = createBuilder({ root });
    try {
      const out = join(tmp.path, "out-named");
      await builder.build({
        contextDir: dir,
        buildContexts: { busybox, extra },
        outputs: [{ type: "local", attrs: { dest: out } }],
      });
      expect(await readFile(join(out, "data.txt"), "utf8")).toBe("from a named context\n");
      expect(await readdir(join(out, "bin"))).toContain("busybox");
      const { removed } = await builder.prune();
      expect(removed).toBeGreaterThanOrEqual(2);
    } finally {
      await builder.close();
    }
  }, 60_000);
  it("replaces a stage by a named context of the same name, without running its instructions", async () => {
    const dir = await context("replace", {
      Dockerfile:
        "FROM scratch AS deps\nCOPY missing-on-purpose.txt /\nFROM scratch\nCOPY --from=deps /data.txt /data.txt\n",
    });
    const deps = await context("replace-deps", { "data.txt": "from the replacing context\n" });
    const builder = createBuilder({ root: join(tmp.path, "store-replace") });
    try {
      const out = join(tmp.path, "out-replace");
      await builder.build({
        contextDir: dir,
        buildContexts: { deps },
        outputs: [{ type: "local", attrs: { dest: out } }],
      });
      expect(await readFile(join(out, "data.txt"), "utf8")).toBe("from the replacing context\n");
      await expect(
        builder.build({ contextDir: dir, outputs: [{ type: "local", attrs: { dest: `${out}-2` } }] }),
      ).rejects.toThrow(/missing-on-purpose/);
    } finally {
      await builder.close();
    }
  }, 60_000);
});
