import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, events, kiln, run } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
let root: string;
let contextFlags: string[];
const SECRET = `kiln-secret-${randomBytes(12).toString("hex")}`;
const HASH = createHash("sha256").update(SECRET).digest("hex");

beforeAll(async () => {
  tmp = await makeTempDir("cli-secrets");
  root = join(tmp.path, "store");
  contextFlags = await busybox(tmp.path);
}, 60_000);
afterAll(() => tmp?.cleanup());

/** Every file below `dir`, with gzip files (layer blobs) decompressed, as one big buffer per file. */
async function* filesBelow(dir: string): AsyncGenerator<[string, Buffer]> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* filesBelow(path);
    else if (entry.isFile() && (await stat(path)).size < 64 << 20) {
      const data = await readFile(path);
      yield [path, data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data];
    }
  }
}

describe("secrets", () => {
  it("are readable during RUN (file and env) and absent from layers, config, history, cache, logs and metadata", async () => {
    const ctx = join(tmp.path, "ctx");
    await mkdir(ctx);
    await writeFile(join(tmp.path, "token.txt"), SECRET);
    await writeFile(
      join(ctx, "Dockerfile"),
      [
        "FROM busybox",
        // The Dockerfile holds only the secret's hash, so any trace of the value comes from the secret.
        `RUN --mount=type=secret,id=tok test "$(sha256sum < /run/secrets/tok | cut -d' ' -f1)" = "${HASH}" && echo file-ok > /file-ok`,
        `RUN --mount=type=secret,id=tok,env=TOKEN test "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)" = "${HASH}" && echo env-ok > /env-ok`,
      ].join("\n"),
    );
    const out = join(tmp.path, "image.tar");
    const meta = join(tmp.path, "meta.json");
    const r = await kiln([
      "build",
      "--root",
      root,
      "--progress",
      "rawjson",
      ...contextFlags,
      "--secret",
      `id=tok,src=${join(tmp.path, "token.txt")}`,
      "-o",
      `type=oci,dest=${out}`,
      "--metadata-file",
      meta,
      ctx,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain(SECRET.slice(13));

    const layout = join(tmp.path, "layout");
    await mkdir(layout);
    expect((await run("tar", ["-xf", out, "-C", layout])).code).toBe(0);
    let scanned = 0;
    for (const dir of [layout, root, tmp.path]) {
      for await (const [path, data] of filesBelow(dir)) {
        if (path.endsWith("token.txt") || path.endsWith("Dockerfile")) continue;
        scanned++;
        expect(data.includes(SECRET.slice(13)), path).toBe(false);
      }
    }
    expect(scanned).toBeGreaterThan(10);
    // The steps really ran (their marker files are in the image's layers).
    const listing = (
      await run("sh", ["-c", `for f in ${layout}/blobs/sha256/*; do tar -tzf "$f" 2>/dev/null; done`])
    ).stdout;
    expect(listing).toContain("file-ok");
    expect(listing).toContain("env-ok");
  }, 120_000);

  it("a missing required secret fails before any step runs", async () => {
    const ctx = join(tmp.path, "ctx-missing");
    await mkdir(ctx);
    await writeFile(
      join(ctx, "Dockerfile"),
      "FROM busybox\nRUN echo first\nRUN --mount=type=secret,id=absent,required true\n",
    );
    const r = await kiln(["build", "--root", root, "--progress", "rawjson", ...contextFlags, ctx]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("secret absent not found");
    expect(events(r.stderr).filter((e) => e.type === "vertex.started")).toEqual([]);
  }, 60_000);
});
