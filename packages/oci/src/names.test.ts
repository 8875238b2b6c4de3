import { MediaType } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { toDockerMediaTypes } from "./docker-media-types.js";
import { parseOciLayoutRef } from "./layout-ref.js";
import { compatiblePlatforms } from "./platform-match.js";
import { parseImageName } from "./reference.js";

describe("parseImageName", () => {
  it.each([
    ["hello", "docker.io/library/hello:latest", "hello:latest"],
    ["hello:1.0", "docker.io/library/hello:1.0", "hello:1.0"],
    ["acme/app", "docker.io/acme/app:latest", "acme/app:latest"],
    ["index.docker.io/library/alpine:3", "docker.io/library/alpine:3", "alpine:3"],
    ["localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest"],
    ["ghcr.io/o/r/x:v1", "ghcr.io/o/r/x:v1", "ghcr.io/o/r/x:v1"],
    [
      `alpine@sha256:${"a".repeat(64)}`,
      `docker.io/library/alpine@sha256:${"a".repeat(64)}`,
      `alpine@sha256:${"a".repeat(64)}`,
    ],
  ])("%s → %s", (input, full, familiar) => {
    const name = parseImageName(input);
    expect(name.full).toBe(full);
    expect(name.familiar).toBe(familiar);
  });

  it.each(["Hello", "", "a//b", "x:bad tag", "repo:"])("rejects %j", (input) => {
    expect(() => parseImageName(input)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});

describe("parseOciLayoutRef", () => {
  const digest = `sha256:${"b".repeat(64)}`;
  it.each([
    ["oci-layout:///srv/layout", { path: "/srv/layout", tag: "latest" }],
    ["oci-layout:///srv/layout:v1", { path: "/srv/layout", tag: "v1" }],
    [`oci-layout:///srv/lay.out@${digest}`, { path: "/srv/lay.out", digest }],
    [`oci-layout:///srv/layout:v1@${digest}`, { path: "/srv/layout", tag: "v1", digest }],
  ])("%s", (value, expected) => expect(parseOciLayoutRef(value)).toEqual(expected));

  it.each([
    "docker-image://x",
    "oci-layout://relative/dir",
    "oci-layout:///x@sha256:short",
    "oci-layout:///x:bad!tag",
  ])("rejects %s", (value) =>
    expect(() => parseOciLayoutRef(value)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" })),
  );
});

describe("compatiblePlatforms", () => {
  it("orders fallbacks like containerd", () => {
    const list = (p: Parameters<typeof compatiblePlatforms>[0]) =>
      compatiblePlatforms(p).map((x) => [x.architecture, x.variant].filter(Boolean).join("/"));
    expect(list({ os: "linux", architecture: "amd64", variant: "v3" })).toEqual([
      "amd64/v3",
      "amd64/v2",
      "amd64",
      "386",
    ]);
    expect(list({ os: "linux", architecture: "arm", variant: "v7" })).toEqual(["arm/v7", "arm/v6", "arm/v5"]);
    expect(list({ os: "linux", architecture: "aarch64" })).toEqual([
      "arm64",
      "arm/v8",
      "arm/v7",
      "arm/v6",
      "arm/v5",
    ]);
  });
});

describe("toDockerMediaTypes", () => {
  it("maps manifest, config and layer types and drops annotations", () => {
    const d = (mediaType: string) => ({
      mediaType,
      digest: `sha256:${"c".repeat(64)}` as const,
      size: 1,
      annotations: { a: "b" },
    });
    const out = toDockerMediaTypes({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: d(MediaType.OciConfig),
      layers: [d(MediaType.OciLayerGzip), d(MediaType.OciLayer), d(MediaType.OciLayerZstd)],
      annotations: { x: "y" },
    });
    expect(out).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: d("").digest, size: 1 },
      layers: [MediaType.DockerLayerGzip, MediaType.DockerLayer, MediaType.DockerLayerZstd].map(
        (mediaType) => ({ mediaType, digest: d("").digest, size: 1 }),
      ),
    });
  });
});
