import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MediaType, parsePlatform } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { createContentStore } from "./content-store.js";
import { indexOf, makeImage, named, tempDir, writeRawLayout } from "./fixtures.test-helpers.js";
import { encodeIndex } from "./json.js";
import { openOciLayout } from "./layout-reader.js";

async function singleImageLayout() {
  const store = createContentStore({ root: tempDir() });
  const image = await makeImage(store, [{ "etc/a": "a" }]);
  const dir = tempDir();
  const entry = named(image.manifest, "docker.io/library/hello:latest", "latest");
  writeRawLayout(dir, store, indexOf([entry]), [
    image.manifest.digest,
    image.config.digest,
    ...image.layers.map((l) => l.digest),
  ]);
  return { store, image, dir };
}

describe("openOciLayout", () => {
  it("resolves by tag, full name, familiar name, digest, and without a ref", async () => {
    const { image, dir } = await singleImageLayout();
    const layout = await openOciLayout(dir);
    for (const ref of [
      "latest",
      "docker.io/library/hello:latest",
      "hello",
      "hello:latest",
      image.manifest.digest,
      undefined,
    ]) {
      const r = await layout.resolve(ref);
      expect(r.manifestDigest).toBe(image.manifest.digest);
      expect(r.configDescriptor.digest).toBe(image.config.digest);
      expect(r.config.config?.Env).toContain("HELLO=world");
      expect(r.manifest.layers.map((l) => l.digest)).toEqual(image.layers.map((l) => l.digest));
    }
    await expect(layout.resolve("v9")).rejects.toMatchObject({
      code: "NOT_FOUND",
      hint: expect.stringContaining("docker.io/library/hello:latest"),
    });
    expect((await layout.readBlob(image.config.digest)).length).toBe(image.config.size);
    expect(layout.blobPath(image.config.digest)).toBe(
      join(dir, "blobs", "sha256", image.config.digest.slice(7)),
    );
  });

  it("accepts a full name stored in org.opencontainers.image.ref.name, matched by its tag", async () => {
    const store = createContentStore({ root: tempDir() });
    const image = await makeImage(store, [{ a: "a" }]);
    const dir = tempDir();
    const entry = {
      ...image.manifest,
      annotations: { "org.opencontainers.image.ref.name": "example.com/app:1.2" },
    };
    writeRawLayout(dir, store, indexOf([entry]), [
      image.manifest.digest,
      image.config.digest,
      ...image.layers.map((l) => l.digest),
    ]);
    const layout = await openOciLayout(dir);
    expect((await layout.resolve("1.2")).manifestDigest).toBe(image.manifest.digest);
    expect((await layout.resolve("example.com/app:1.2")).manifestDigest).toBe(image.manifest.digest);
  });

  it("follows a nested index to the wanted platform, with containerd-style variant fallback", async () => {
    const store = createContentStore({ root: tempDir() });
    const amd64 = await makeImage(store, [{ a: "amd64" }], { os: "linux", architecture: "amd64" });
    const arm64 = await makeImage(store, [{ a: "arm64" }], {
      os: "linux",
      architecture: "arm64",
      variant: "v8",
    });
    const armv6 = await makeImage(store, [{ a: "armv6" }], {
      os: "linux",
      architecture: "arm",
      variant: "v6",
    });
    const attestation = {
      mediaType: MediaType.OciManifest,
      digest: amd64.config.digest,
      size: amd64.config.size,
      platform: { os: "unknown", architecture: "unknown" },
      annotations: { "vnd.docker.reference.type": "attestation-manifest" },
    };
    const nested = await store.write(
      encodeIndex(indexOf([amd64.manifest, arm64.manifest, armv6.manifest, attestation])),
    );
    const dir = tempDir();
    const top = {
      mediaType: MediaType.OciIndex,
      digest: nested.digest,
      size: nested.size,
      annotations: { "org.opencontainers.image.ref.name": "multi" },
    };
    const all = [
      nested.digest,
      ...[amd64, arm64, armv6].flatMap((i) => [
        i.manifest.digest,
        i.config.digest,
        ...i.layers.map((l) => l.digest),
      ]),
    ];
    writeRawLayout(dir, store, indexOf([top]), all);
    const layout = await openOciLayout(dir);
    const pick = async (p: string) =>
      (await layout.resolve("multi", { platform: parsePlatform(p) })).manifestDigest;
    expect(await pick("linux/amd64")).toBe(amd64.manifest.digest);
    expect(await pick("linux/arm64")).toBe(arm64.manifest.digest); // arm64 == arm64/v8
    expect(await pick("linux/aarch64")).toBe(arm64.manifest.digest);
    expect(await pick("linux/arm/v7")).toBe(armv6.manifest.digest); // v7 runs v6
    expect(await pick("linux/amd64/v3")).toBe(amd64.manifest.digest);
    await expect(pick("linux/s390x")).rejects.toMatchObject({
      code: "NOT_FOUND",
      hint: expect.stringContaining("linux/arm64"),
    });
    // A digest of a child manifest that index.json does not list directly.
    expect((await layout.resolve(armv6.manifest.digest)).config.architecture).toBe("arm");
  });

  describe("broken layouts", () => {
    it("names the missing directory, oci-layout file and index.json", async () => {
      await expect(openOciLayout("/nonexistent/layout")).rejects.toMatchObject({
        code: "NOT_FOUND",
        message: expect.stringContaining("/nonexistent/layout"),
      });
      const { dir } = await singleImageLayout();
      rmSync(join(dir, "index.json"));
      await expect(openOciLayout(dir)).rejects.toMatchObject({
        code: "NOT_FOUND",
        message: expect.stringContaining(join(dir, "index.json")),
        hint: expect.stringContaining("OCI image layout"),
      });
      rmSync(join(dir, "oci-layout"));
      await expect(openOciLayout(dir)).rejects.toMatchObject({
        code: "NOT_FOUND",
        message: expect.stringContaining("oci-layout"),
      });
      const file = join(dir, "image.tar");
      writeFileSync(file, "");
      await expect(openOciLayout(file)).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
        hint: expect.stringContaining("extract"),
      });
    });

    it("rejects a wrong layout version and invalid JSON", async () => {
      const { dir } = await singleImageLayout();
      writeFileSync(join(dir, "index.json"), "{not json");
      await expect(openOciLayout(dir)).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
        message: expect.stringContaining("index.json is not valid JSON"),
      });
      writeFileSync(
        join(dir, "index.json"),
        JSON.stringify({ schemaVersion: 2, manifests: [{ digest: "md5:x" }] }),
      );
      await expect(openOciLayout(dir)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "2.0.0" }));
      await expect(openOciLayout(dir)).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
        message: expect.stringContaining("2.0.0"),
      });
    });

    it("reports a missing blob as NOT_FOUND and a corrupted one as DATA_LOSS, naming the path", async () => {
      const { image, dir } = await singleImageLayout();
      const layout = await openOciLayout(dir);
      const configPath = layout.blobPath(image.config.digest);
      writeFileSync(configPath, '{"architecture":"evil"}');
      await expect(layout.resolve("latest")).rejects.toMatchObject({
        code: "DATA_LOSS",
        message: expect.stringContaining(configPath),
      });
      rmSync(configPath);
      await expect(layout.resolve("latest")).rejects.toMatchObject({
        code: "NOT_FOUND",
        message: expect.stringContaining(configPath),
      });
    });
  });
});
