import { execFileSync } from "node:child_process";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { digestHex, sha256 } from "@kiln/core";
import { applyLayer } from "@kiln/snapshotter";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BUSYBOX_APPLETS, buildBusyboxLayout } from "./busybox-layout.js";
import { makeTempDir, type TempDir } from "./temp-dir.js";

const hasTool = (tool: string) =>
  ["/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"].some((d) => existsSync(join(d, tool)));
const readJson = async (path: string) => JSON.parse(await readFile(path, "utf8"));

describe("buildBusyboxLayout", () => {
  let tmp: TempDir;
  beforeEach(async () => {
    if (!existsSync("/bin/busybox")) {
      throw new Error(
        "/bin/busybox is missing: install Debian's busybox-static (bash scripts/setup.sh does it)",
      );
    }
    tmp = await makeTempDir("busybox");
  });
  afterEach(() => tmp?.cleanup());

  it("writes a valid, content-addressed OCI layout tagged in index.json", async () => {
    const dir = join(tmp.path, "layout");
    const layout = await buildBusyboxLayout(dir, { tag: "busybox:test" });
    expect(await readJson(join(dir, "oci-layout"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const index = await readJson(join(dir, "index.json"));
    expect(index.manifests).toEqual([layout.manifest]);
    expect(index.manifests[0].annotations["org.opencontainers.image.ref.name"]).toBe("busybox:test");
    for (const d of [layout.manifest, layout.config, layout.layer]) {
      const blob = await readFile(join(dir, "blobs/sha256", digestHex(d.digest)));
      expect(sha256(blob)).toBe(d.digest);
      expect(blob.length).toBe(d.size);
    }
    const manifest = await readJson(join(dir, "blobs/sha256", digestHex(layout.manifest.digest)));
    expect(manifest).toMatchObject({ schemaVersion: 2, config: layout.config, layers: [layout.layer] });
    const config = await readJson(join(dir, "blobs/sha256", digestHex(layout.config.digest)));
    expect(config).toMatchObject({
      os: "linux",
      config: { Cmd: ["sh"] },
      rootfs: { diff_ids: [layout.diffId] },
    });
    expect(config.config.Env[0]).toMatch(/^PATH=/);
  });

  it("is deterministic", async () => {
    const a = await buildBusyboxLayout(join(tmp.path, "a"), { tag: "t" });
    const b = await buildBusyboxLayout(join(tmp.path, "b"), { tag: "t" });
    expect(b.manifest.digest).toBe(a.manifest.digest);
    expect(b.layer.digest).toBe(a.layer.digest);
  });

  it("has a layer GNU tar reads and that applies to a runnable tree", async () => {
    const layout = await buildBusyboxLayout(join(tmp.path, "layout"), { tag: "t" });
    const blob = join(layout.dir, "blobs/sha256", digestHex(layout.layer.digest));
    const listing = execFileSync("tar", ["-tzvf", blob], { encoding: "utf8" });
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0 .* 2024-01-01 00:00 bin\/busybox$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* bin\/sh -> busybox$/m);
    expect(listing).toMatch(/^drwxrwxrwt 0\/0 .* tmp\/$/m);
    const root = join(tmp.path, "rootfs");
    await mkdir(root);
    const { diffId } = await applyLayer(createReadStream(blob).pipe(createGunzip()), root);
    expect(diffId).toBe(layout.diffId);
    for (const applet of BUSYBOX_APPLETS) expect(existsSync(join(root, "bin", applet))).toBe(true);
    expect(execFileSync(join(root, "bin/sh"), ["-c", "echo hello"], { encoding: "utf8" })).toBe("hello\n");
  });

  it.skipIf(!hasTool("umoci"))("unpacks with umoci, an independent OCI implementation", async () => {
    const layout = await buildBusyboxLayout(join(tmp.path, "layout"), { tag: "bb" });
    const bundle = join(tmp.path, "bundle");
    execFileSync("umoci", ["unpack", "--image", `${layout.dir}:bb`, bundle], { stdio: "pipe" });
    expect(existsSync(join(bundle, "rootfs/bin/busybox"))).toBe(true);
    expect(await readFile(join(bundle, "rootfs/etc/passwd"), "utf8")).toMatch(/^root:x:0:0:/);
    const spec = await readJson(join(bundle, "config.json"));
    expect(spec.process.args).toEqual(["sh"]);
  });
});
