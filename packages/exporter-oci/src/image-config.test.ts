import type { Layer } from "@kiln/core";
import { createContentStore } from "@kiln/oci";
import { describe, expect, it } from "vitest";
import { buildImageConfig, normalizeHistory } from "./image-config.js";
import { createImageWriter } from "./image-writer.js";
import { exporterFor } from "./registry.js";
import { request, tempDir, testConfig } from "./test-ref.test-helpers.js";

const layer = (n: number, description?: string): Layer => ({
  blob: {
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
    size: n,
    ...(description ? { annotations: { "buildkit/description": description } } : {}),
  },
  diffId: `sha256:${String(n + 1)
    .repeat(64)
    .slice(0, 64)}`,
});

describe("normalizeHistory", () => {
  it("prepends generated entries for layers without history", () => {
    const out = normalizeHistory(
      [{ created_by: "RUN x" }, { created_by: "ENV a=b", empty_layer: true }],
      [layer(1, "base layer"), layer(2), layer(3)],
      "T",
    );
    expect(out).toEqual([
      { created: "T", created_by: "base layer" },
      { created: "T" },
      { created_by: "RUN x" },
      { created_by: "ENV a=b", empty_layer: true },
    ]);
  });

  it("marks surplus non-empty entries at the end empty", () => {
    const out = normalizeHistory(
      [{ created_by: "a" }, { created_by: "b" }, { created_by: "c", empty_layer: true }, { created_by: "d" }],
      [layer(1)],
      "T",
    );
    expect(out.map((h) => [h.created_by, h.empty_layer ?? false])).toEqual([
      ["a", false],
      ["b", true],
      ["c", true],
      ["d", true],
    ]);
  });
});

describe("buildImageConfig", () => {
  it("orders keys like the Go structs, fills the platform and omits empty fields", () => {
    const config = buildImageConfig({
      config: {
        extra: 1,
        rootfs: { type: "layers", diff_ids: [] },
        config: { Shell: ["/bin/sh"], Cmd: [], Env: ["A=1"], Labels: {}, User: "" },
        os: "",
        architecture: "",
      },
      layers: [layer(1)],
      platform: { os: "linux", architecture: "arm", variant: "v7" },
      now: new Date("2024-01-02T03:04:05Z"),
    });
    expect(JSON.stringify(config)).toBe(
      JSON.stringify({
        created: "2024-01-02T03:04:05Z",
        architecture: "arm",
        os: "linux",
        variant: "v7",
        config: { Env: ["A=1"], Shell: ["/bin/sh"] },
        rootfs: { type: "layers", diff_ids: [layer(1).diffId] },
        history: [{ created: "2024-01-02T03:04:05Z" }],
        extra: 1,
      }),
    );
  });

  it("keeps an earlier frontend created time under an epoch, clamps a later one", () => {
    const base = {
      config: testConfig,
      layers: [layer(1), layer(2)],
      platform: { os: "linux", architecture: "amd64" },
      now: new Date(),
    };
    expect(
      buildImageConfig({ ...base, config: { ...testConfig, created: "2001-01-01T00:00:00Z" }, epoch: 1e9 })
        .created,
    ).toBe("2001-01-01T00:00:00Z");
    expect(
      buildImageConfig({ ...base, config: { ...testConfig, created: "2031-01-01T00:00:00Z" }, epoch: 1e9 })
        .created,
    ).toBe("2001-09-09T01:46:40Z");
  });
});

describe("createImageWriter", () => {
  it("refuses layers whose blobs are not in the content store", async () => {
    const content = createContentStore({ root: tempDir() });
    const ref = {
      id: "x",
      snapshot: "x",
      mount: async () => ({ path: "/", release: async () => {} }),
      layers: async () => [layer(1)],
    };
    await expect(
      createImageWriter({ content }).commit(request(ref, {}), { ociMediaTypes: true }),
    ).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
  });
});

describe("exporterFor", () => {
  it("returns exporters by type and lists the known ones for an unknown type", () => {
    const content = createContentStore({ root: tempDir() });
    for (const type of ["oci", "docker", "tar", "local", "image", "registry"])
      expect(exporterFor(type, { content }).type).toBe(type);
    expect(() => exporterFor("s3", { content })).toThrow(
      expect.objectContaining({
        code: "INVALID_ARGUMENT",
        hint: expect.stringContaining("docker, image, registry, local, oci, tar"),
      }),
    );
    expect(() => exporterFor("toString", { content })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
