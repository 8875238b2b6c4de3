import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kiln, run } from "./e2e-helpers.test-helpers.js";

const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/**
 * Layers bigger than one gzip member (4 MiB of input) are written as a multi-member gzip, deflated on
 * every core. Real consumers must read them: skopeo, umoci and GNU tar.
 */
describe("a layer of several gzip members", () => {
  let tmp: TempDir;
  let data: Buffer;
  beforeAll(async () => {
    tmp = await makeTempDir("big-layer");
    await mkdir(join(tmp.path, "ctx"));
    // Random and repetitive halves: some members deflate, some are stored.
    data = Buffer.concat([randomBytes(7 * 1024 * 1024), Buffer.alloc(6 * 1024 * 1024, "kiln ")]);
    await writeFile(join(tmp.path, "ctx", "big.bin"), data);
    await writeFile(join(tmp.path, "ctx", "Dockerfile"), "FROM scratch\nCOPY big.bin /big.bin\n");
  }, 60_000);
  afterAll(() => tmp?.cleanup());

  it("is read back byte for byte by skopeo, umoci and tar", async () => {
    const out = join(tmp.path, "image.tar");
    const r = await kiln([
      "build",
      "-t",
      "big:1",
      "--root",
      join(tmp.path, "store"),
      "-o",
      `type=oci,dest=${out}`,
      "--progress",
      "quiet",
      join(tmp.path, "ctx"),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const layout = join(tmp.path, "layout");
    await mkdir(layout);
    expect((await run("tar", ["-xf", out, "-C", layout])).code).toBe(0);
    const copied = await run("skopeo", ["copy", `oci:${layout}:1`, `dir:${join(tmp.path, "dir")}`]);
    expect(copied.code, copied.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(join(tmp.path, "dir", "manifest.json"), "utf8"));
    const layerBlob = join(tmp.path, "dir", (manifest.layers[0].digest as string).slice("sha256:".length));
    const extracted = join(tmp.path, "tar-x");
    await mkdir(extracted);
    const untar = await run("tar", ["-xzf", layerBlob, "-C", extracted]);
    expect(untar.code, untar.stderr).toBe(0);
    expect(sha(await readFile(join(extracted, "big.bin")))).toBe(sha(data));

    const bundle = join(tmp.path, "bundle");
    const unpack = await run("umoci", ["unpack", "--image", `${layout}:1`, bundle]);
    expect(unpack.code, unpack.stderr).toBe(0);
    expect(sha(await readFile(join(bundle, "rootfs", "big.bin")))).toBe(sha(data));
  }, 120_000);
});
