import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, readTree, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Builder, createBuilder } from "./builder.js";

let tmp: TempDir;
let builder: Builder;
let contextDir: string;

beforeAll(async () => {
  tmp = await makeTempDir("copy-parents");
  contextDir = join(tmp.path, "ctx");
  const files: Record<string, string> = {
    "app/x/a.txt": "a\n",
    "app/x/b.md": "b\n",
    "app/y/c.txt": "c\n",
    "lib/z/d.txt": "d\n",
    "top.txt": "top\n",
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(contextDir, path, ".."), { recursive: true });
    await writeFile(join(contextDir, path), content);
  }
  builder = createBuilder({ root: join(tmp.path, "store") });
}, 60_000);
afterAll(async () => {
  await builder?.close();
  await tmp?.cleanup();
});

async function build(name: string, dockerfile: string): Promise<string[]> {
  await writeFile(join(contextDir, "Dockerfile"), dockerfile);
  const out = join(tmp.path, `out-${name}`);
  await builder.build({ contextDir, outputs: [{ type: "local", attrs: { dest: out } }] });
  const tree = await readTree(out);
  return Object.entries(tree)
    .filter(([, node]) => node.type === "file")
    .map(([path]) => path)
    .sort();
}

describe("COPY --parents", () => {
  it("keeps each source's parent directories under the destination", async () => {
    const files = await build(
      "literal",
      "FROM scratch\nCOPY --parents app/x/a.txt lib/z/d.txt top.txt /dst/\n",
    );
    expect(files).toEqual(["dst/app/x/a.txt", "dst/lib/z/d.txt", "dst/top.txt"]);
  }, 60_000);

  it("expands wildcards in any component, keeping the matched parents", async () => {
    const files = await build("wildcard", "FROM scratch\nCOPY --parents app/*/*.txt /dst/\n");
    expect(files).toEqual(["dst/app/x/a.txt", "dst/app/y/c.txt"]);
  }, 60_000);

  it("starts the kept path at a /./ pivot", async () => {
    const files = await build("pivot", "FROM scratch\nCOPY --parents app/./x/a.txt app/./y/ /dst/\n");
    expect(files).toEqual(["dst/x/a.txt", "dst/y/c.txt"]);
  }, 60_000);

  it("fails when a literal source is missing", async () => {
    await expect(build("missing", "FROM scratch\nCOPY --parents app/nope.txt /dst/\n")).rejects.toThrow(
      /nope\.txt.*not found/,
    );
  }, 60_000);
});
