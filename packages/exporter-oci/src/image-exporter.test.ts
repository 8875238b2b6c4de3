import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { buffer } from "node:stream/consumers";
import { MediaType, type ProgressEvent } from "@kiln/core";
import { createContentStore, openOciLayout } from "@kiln/oci";
import { beforeAll, describe, expect, it } from "vitest";
import { createDockerExporter, createOciExporter } from "./image-exporter.js";
import {
  appLayer,
  baseLayer,
  createTestRef,
  request,
  run,
  type TestRef,
  tempDir,
} from "./test-ref.test-helpers.js";

const store = createContentStore({ root: tempDir("kiln-store-") });
let ref: TestRef;
beforeAll(async () => {
  ref = await createTestRef(store, [baseLayer, appLayer]);
});

const fixedNow = () => new Date("2024-05-06T07:08:09.500Z");

describe("type=oci", () => {
  it("writes an OCI archive that skopeo inspects and umoci unpacks", async () => {
    const dest = join(tempDir(), "out", "image.tar");
    const events: ProgressEvent[] = [];
    const exporter = createOciExporter({ content: store, now: fixedNow });
    const res = await exporter.export(request(ref, { dest }, ["hello"], events));

    const inspect = JSON.parse(run("skopeo", ["inspect", `oci-archive:${dest}:latest`]));
    expect(inspect.Layers).toEqual(ref.storedLayers.map((l) => l.blob.digest));
    expect(inspect.Env).toEqual(["PATH=/usr/bin:/bin", "HELLO=world"]);
    expect(inspect.Architecture).toBe("amd64");
    expect(inspect.Digest).toBe(res["containerimage.digest"]);
    expect(inspect.Created).toBe("2024-05-06T07:08:09.5Z");
    const config = JSON.parse(run("skopeo", ["inspect", "--config", `oci-archive:${dest}:latest`]));
    expect(config.config.Cmd).toEqual(["/app/main.sh"]);

    expect(res["image.name"]).toBe("hello");
    expect(res["containerimage.config.digest"]).toMatch(/^sha256:/);
    const descriptor = JSON.parse(Buffer.from(res["containerimage.descriptor"] ?? "", "base64").toString());
    expect(descriptor).toMatchObject({
      mediaType: MediaType.OciManifest,
      digest: res["containerimage.digest"],
    });
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(["vertex.started", "vertex.status", "vertex.completed"]),
    );

    const layoutDir = tempDir();
    run("tar", ["-xf", dest, "-C", layoutDir]);
    const index = JSON.parse(readFileSync(join(layoutDir, "index.json"), "utf8"));
    expect(index.manifests).toEqual([
      {
        mediaType: MediaType.OciManifest,
        digest: res["containerimage.digest"],
        size: expect.any(Number),
        annotations: {
          "io.containerd.image.name": "docker.io/library/hello:latest",
          "org.opencontainers.image.created": "2024-05-06T07:08:09Z",
          "org.opencontainers.image.ref.name": "latest",
        },
      },
    ]);
    const manifest = JSON.parse(
      readFileSync(join(layoutDir, "blobs/sha256", index.manifests[0].digest.slice(7)), "utf8"),
    );
    expect(manifest.layers.map((l: { annotations?: object }) => l.annotations)).toEqual([
      { keep: "me" },
      { keep: "me" },
    ]);

    const bundle = join(tempDir(), "bundle");
    run("umoci", ["unpack", "--image", `${layoutDir}:latest`, bundle]);
    const rootfs = join(bundle, "rootfs");
    expect(readFileSync(join(rootfs, "etc/hello"), "utf8")).toBe("hello v2\n");
    expect(readFileSync(join(rootfs, "app/main.sh"), "utf8")).toContain("echo app");
    expect(run("stat", ["-c", "%u:%g %a", join(rootfs, "home/user/file")]).trim()).toBe("1234:5678 600");
    const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    expect(spec.process.args).toEqual(["/app/main.sh"]);
    expect(spec.process.cwd).toBe("/app");
  });

  it("is reproducible with source-date-epoch and clamps times to it", async () => {
    const exporter = createOciExporter({ content: store });
    const a = join(tempDir(), "a.tar");
    const b = join(tempDir(), "b.tar");
    const attrs = { "source-date-epoch": "1700000000", name: "ghcr.io/acme/app:v1,acme/app:edge" };
    const r1 = await exporter.export(request(ref, { ...attrs, dest: a }));
    await new Promise((r) => setTimeout(r, 1100));
    const r2 = await exporter.export(request(ref, { ...attrs, dest: b }));
    expect(r1).toEqual(r2);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(r1["image.name"]).toBe("ghcr.io/acme/app:v1,acme/app:edge");
    const config = JSON.parse(run("skopeo", ["inspect", "--config", `oci-archive:${a}:v1`]));
    expect(Object.keys(config)).toEqual(["created", "architecture", "os", "config", "rootfs", "history"]);
    expect(config.created).toBe("2023-11-14T22:13:20Z");
    expect(config.history.map((h: { created: string }) => h.created)).toEqual([
      "2020-01-01T00:00:00Z",
      "2023-11-14T22:13:20Z",
      "2023-11-14T22:13:20Z",
    ]);
    expect(run("tar", ["--full-time", "-tvf", a, "index.json"])).toContain("2023-11-14 22:13:20");
    const edge = JSON.parse(run("skopeo", ["inspect", `oci-archive:${a}:edge`]));
    expect(edge.Digest).toBe(r1["containerimage.digest"]);
  });

  it("writes an OCI layout directory with tar=false and to stdout with dest=-", async () => {
    const dir = join(tempDir(), "layout");
    const exporter = createOciExporter({ content: store, stdout: new PassThrough() });
    const res = await exporter.export(
      request(ref, { dest: dir, tar: "false", "annotation.org.example": "x" }, ["app:1"]),
    );
    const layout = await openOciLayout(dir);
    const resolved = await layout.resolve("1");
    expect(resolved.manifestDigest).toBe(res["containerimage.digest"]);
    expect(resolved.manifest.annotations).toEqual({ "org.example": "x" });
    expect(JSON.parse(run("skopeo", ["inspect", `oci:${dir}:1`])).Digest).toBe(res["containerimage.digest"]);

    const stdout = new PassThrough();
    const collected = buffer(stdout);
    const toStdout = createOciExporter({ content: store, stdout });
    const r = await toStdout.export(request(ref, { dest: "-" }));
    expect(stdout.writableEnded).toBe(false); // stdout stays open for whatever comes next
    stdout.end();
    const tarFile = join(tempDir(), "stdout.tar");
    writeFileSync(tarFile, await collected);
    const listing = run("tar", ["-tf", tarFile]);
    expect(listing).toContain(`blobs/sha256/${r["containerimage.digest"]?.slice(7)}`);
    expect(JSON.parse(run("skopeo", ["inspect", `oci-archive:${tarFile}`])).Digest).toBe(
      r["containerimage.digest"],
    );
  });

  it("rejects bad input with INVALID_ARGUMENT and leaves no partial file behind", async () => {
    const exporter = createOciExporter({ content: store });
    const dir = tempDir();
    await expect(exporter.export(request(ref, {}))).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      hint: expect.stringContaining("dest="),
    });
    await expect(
      exporter.export(request(ref, { dest: join(dir, "x.tar"), name: "Bad Name" })),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(
      exporter.export(request(ref, { dest: join(dir, "x.tar"), tar: "maybe" })),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(
      exporter.export(request(ref, { dest: join(dir, "x.tar"), "source-date-epoch": "yesterday" })),
    ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(exporter.export(request(ref, { dest: dir }))).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      hint: expect.stringContaining("tar=false"),
    });
    const controller = new AbortController();
    controller.abort();
    await expect(
      exporter.export(request(ref, { dest: join(dir, "x.tar") }), { signal: controller.signal }),
    ).rejects.toMatchObject({ code: "CANCELED" });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("type=docker", () => {
  it("writes Docker media types and manifest.json; skopeo reads it as docker-archive", async () => {
    const dest = join(tempDir(), "docker.tar");
    const res = await createDockerExporter({ content: store }).export(
      request(ref, { dest }, ["hello:v1", "registry.local:5000/x/y"]),
    );
    const manifestJson = JSON.parse(run("tar", ["-xOf", dest, "manifest.json"]));
    expect(manifestJson).toHaveLength(1);
    expect(manifestJson[0].RepoTags).toEqual(["hello:v1", "registry.local:5000/x/y:latest"]);
    expect(manifestJson[0].Config).toBe(`blobs/sha256/${res["containerimage.config.digest"]?.slice(7)}`);
    expect(manifestJson[0].Layers).toEqual(
      ref.storedLayers.map((l) => `blobs/sha256/${l.blob.digest.slice(7)}`),
    );
    const manifest = JSON.parse(
      run("tar", ["-xOf", dest, `blobs/sha256/${res["containerimage.digest"]?.slice(7)}`]),
    );
    expect(manifest.mediaType).toBe(MediaType.DockerManifest);
    expect(manifest.config.mediaType).toBe(MediaType.DockerConfig);
    expect(
      manifest.layers.map((l: { mediaType: string; annotations?: unknown }) => [l.mediaType, l.annotations]),
    ).toEqual([
      [MediaType.DockerLayerGzip, undefined],
      [MediaType.DockerLayerGzip, undefined],
    ]);
    const inspect = JSON.parse(run("skopeo", ["inspect", `docker-archive:${dest}:hello:v1`]));
    expect(inspect.Env).toContain("HELLO=world");
    expect(inspect.Layers).toEqual(ref.storedLayers.map((l) => l.diffId));
    expect(existsSync(dest)).toBe(true);
  });

  it("keeps OCI media types with oci-mediatypes=true and refuses manifest annotations without them", async () => {
    const dest = join(tempDir(), "docker-oci.tar");
    const exporter = createDockerExporter({ content: store });
    const res = await exporter.export(request(ref, { dest, "oci-mediatypes": "true" }, ["hello"]));
    expect(
      JSON.parse(Buffer.from(res["containerimage.descriptor"] ?? "", "base64").toString()).mediaType,
    ).toBe(MediaType.OciManifest);
    expect(JSON.parse(run("skopeo", ["inspect", `docker-archive:${dest}`])).Env).toContain("HELLO=world");
    await expect(exporter.export(request(ref, { dest, "annotation.x": "y" }))).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      hint: expect.stringContaining("oci-mediatypes=true"),
    });
  });
});
