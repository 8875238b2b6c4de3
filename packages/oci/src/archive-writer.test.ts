import { createWriteStream, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Descriptor } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { writeDockerArchive, writeOciArchive } from "./archive-writer.js";
import { blobsFromContentStore } from "./blob-sources.js";
import { createContentStore } from "./content-store.js";
import { indexOf, makeImage, named, run, tempDir } from "./fixtures.test-helpers.js";
import { openOciLayout } from "./layout-reader.js";
import { writeOciLayoutDir } from "./layout-writer.js";

async function fixture() {
  const store = createContentStore({ root: tempDir() });
  const image = await makeImage(store, [{ "etc/hello": "hi\n" }, { "usr/bin/tool": "#!/bin/sh\n" }]);
  const entry = named(image.manifest, "docker.io/library/hello:latest", "latest");
  return { store, image, content: { index: indexOf([entry]), blobs: blobsFromContentStore(store) } };
}

async function toFile(write: (out: NodeJS.WritableStream) => Promise<void>): Promise<string> {
  const file = join(tempDir(), "out.tar");
  const out = createWriteStream(file);
  await write(out);
  await new Promise((r) => out.close(r));
  return file;
}

describe("writeOciArchive", () => {
  it("writes a deterministic, sorted OCI layout tar that skopeo reads", async () => {
    const { image, content } = await fixture();
    const file = await toFile((out) => writeOciArchive(out as never, content));
    const listing = run("tar", ["--numeric-owner", "--full-time", "-tvf", file]).trim().split("\n");
    const names = listing.map((l) => l.split(/\s+/).at(-1));
    const blobNames = [image.config, ...image.layers, image.manifest]
      .map((d) => `blobs/sha256/${d.digest.slice(7)}`)
      .sort();
    expect(names).toEqual(["blobs/", "blobs/sha256/", ...blobNames, "index.json", "oci-layout"]);
    for (const line of listing) {
      expect(line).toMatch(/^(-rw-r--r--|drwxr-xr-x) 0\/0 .* 1970-01-01 00:00:00 /);
    }
    const inspect = JSON.parse(run("skopeo", ["inspect", `oci-archive:${file}:latest`]));
    expect(inspect.Layers).toEqual(image.layers.map((l) => l.digest));
    expect(inspect.Env).toContain("HELLO=world");
    expect(inspect.Digest).toBe(image.manifest.digest);

    const again = await toFile((out) => writeOciArchive(out as never, content));
    expect(readFileSync(again).equals(readFileSync(file))).toBe(true);
    const epoch = await toFile((out) => writeOciArchive(out as never, content, { mtime: 1_700_000_000 }));
    expect(run("tar", ["--full-time", "-tvf", epoch, "oci-layout"])).toContain("2023-11-14 22:13:20");
  });

  it("fails with DATA_LOSS when a stored blob is corrupted, and NOT_FOUND when one is missing", async () => {
    const { store, image, content } = await fixture();
    const layer = image.layers[1] as Descriptor;
    const { writeFileSync, rmSync } = await import("node:fs");
    writeFileSync(store.path(layer.digest), Buffer.alloc(layer.size, 1));
    await expect(toFile((out) => writeOciArchive(out as never, content))).rejects.toMatchObject({
      code: "DATA_LOSS",
    });
    rmSync(store.path(layer.digest));
    await expect(toFile((out) => writeOciArchive(out as never, content))).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });
});

describe("writeDockerArchive", () => {
  it("adds manifest.json with familiar RepoTags; skopeo reads it as docker-archive and oci-archive", async () => {
    const { store, image, content } = await fixture();
    const extra = named(image.manifest, "ghcr.io/acme/tool:v1", "v1");
    const file = await toFile((out) =>
      writeDockerArchive(out as never, { ...content, index: indexOf([...content.index.manifests, extra]) }),
    );
    const manifestJson = JSON.parse(run("tar", ["-xOf", file, "manifest.json"]));
    expect(manifestJson).toEqual([
      {
        Config: `blobs/sha256/${image.config.digest.slice(7)}`,
        RepoTags: ["hello:latest", "ghcr.io/acme/tool:v1"],
        Layers: image.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
      },
    ]);
    const docker = JSON.parse(run("skopeo", ["inspect", `docker-archive:${file}`]));
    expect(docker.Env).toContain("HELLO=world");
    // docker-archive sources describe layers by their uncompressed digests (the diff IDs).
    const config = JSON.parse((await store.readBytes(image.config.digest)).toString());
    expect(docker.Layers).toEqual(config.rootfs.diff_ids);
    const oci = JSON.parse(run("skopeo", ["inspect", `oci-archive:${file}:latest`]));
    expect(oci.Digest).toBe(image.manifest.digest);
  });
});

describe("writeOciLayoutDir", () => {
  it("writes a layout that openOciLayout and skopeo read, and merges later exports by name", async () => {
    const { store, image, content } = await fixture();
    const dir = join(tempDir(), "layout");
    mkdirSync(dir);
    await writeOciLayoutDir(dir, content);
    const layout = await openOciLayout(dir);
    const resolved = await layout.resolve("latest");
    expect(resolved.manifestDigest).toBe(image.manifest.digest);
    expect(resolved.config.config?.Env).toContain("HELLO=world");
    expect(JSON.parse(run("skopeo", ["inspect", `oci:${dir}:latest`])).Layers).toEqual(
      image.layers.map((l) => l.digest),
    );

    const second = await makeImage(store, [{ "etc/other": "x" }]);
    const blobs = blobsFromContentStore(store);
    await writeOciLayoutDir(dir, {
      index: indexOf([named(second.manifest, "docker.io/library/other:v2", "v2")]),
      blobs,
    });
    await writeOciLayoutDir(dir, {
      index: indexOf([named(second.manifest, "docker.io/library/hello:latest", "latest")]),
      blobs,
    });
    const merged = await openOciLayout(dir);
    expect(merged.index.manifests.map((m) => m.annotations?.["io.containerd.image.name"])).toEqual([
      "docker.io/library/other:v2",
      "docker.io/library/hello:latest",
    ]);
    expect((await merged.resolve("docker.io/library/hello:latest")).manifestDigest).toBe(
      second.manifest.digest,
    );
  });
});

describe("packTar", () => {
  it("writes ids beyond the ustar range as PAX records that GNU tar reads", async () => {
    const { packTar } = await import("./tar-pack.js");
    const file = await toFile((out) =>
      packTar(out as never, [
        {
          name: "big",
          type: "file",
          mode: 0o600,
          uid: 300000,
          gid: 400000,
          mtime: 5,
          body: Buffer.from("x"),
        },
      ]),
    );
    expect(run("tar", ["--numeric-owner", "-tvf", file])).toMatch(
      /^-rw------- 300000\/400000 +1 1970-01-01 00:00 big/,
    );
  });
});
