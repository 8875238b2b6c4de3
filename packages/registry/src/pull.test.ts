import { hostPlatform, MediaType, sha256 } from "@kiln/core";
import { createContentStore } from "@kiln/oci";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../testkit/src/index.js";
import { createRegistryClient } from "./client.js";
import { parseRegistryConfig } from "./config.js";
import {
  buildMultiArchLayout,
  type MultiArchLayout,
  skopeoPush,
} from "./test-helpers/fixtures.test-helpers.js";
import { startFaultProxy } from "./test-helpers/proxy.test-helpers.js";
import { type RegistryServer, startRegistry } from "./test-helpers/registry-server.test-helpers.js";

let tmp: TempDir;
let registry: RegistryServer;
let layout: MultiArchLayout;

beforeAll(async () => {
  tmp = await makeTempDir("registry-pull");
  registry = await startRegistry();
  layout = await buildMultiArchLayout(`${tmp.path}/layout`);
  await skopeoPush(layout.dir, "multi", `${registry.host}/busybox:latest`);
  await skopeoPush(layout.dir, "single", `${registry.host}/busybox:single`);
});

afterAll(async () => {
  await registry?.stop();
  await tmp?.cleanup();
});

describe("pull from a plain registry (skopeo pushed the fixtures)", () => {
  it("resolves a multi-arch index to the host's manifest", async () => {
    const client = createRegistryClient();
    const resolved = await client.resolve(`${registry.host}/busybox`);
    expect(hostPlatform().architecture).toBe("amd64");
    expect(resolved.name).toBe(`${registry.host}/busybox:latest`);
    expect(resolved.manifestDigest).toBe(layout.amd64.digest);
    expect(resolved.descriptor.platform?.architecture).toBe("amd64");
    expect(resolved.index?.digest).toBe(layout.index.digest);
    expect(resolved.manifest.layers[0]?.digest).toBe(layout.layer.digest);
    expect(resolved.mediaType).toBe(MediaType.OciManifest);
    await client.close();
  });

  it("honours an explicit platform", async () => {
    const client = createRegistryClient();
    const resolved = await client.resolve(`${registry.host}/busybox:latest`, {
      platform: { os: "linux", architecture: "arm64" },
    });
    expect(resolved.manifestDigest).toBe(layout.arm64.digest);
    expect(resolved.manifest.config.digest).toBe(layout.arm64Config.digest);
    await expect(
      client.resolve(`${registry.host}/busybox`, { platform: { os: "linux", architecture: "s390x" } }),
    ).rejects.toMatchObject({ code: "NOT_FOUND", hint: expect.stringContaining("linux/arm64") });
    await client.close();
  });

  it("resolves by digest and by name:tag@digest, verifying the bytes", async () => {
    const client = createRegistryClient();
    const byDigest = await client.resolve(`${registry.host}/busybox@${layout.arm64.digest}`);
    expect(byDigest.manifestDigest).toBe(layout.arm64.digest);
    expect(byDigest.index).toBeUndefined();
    const both = await client.resolve(`${registry.host}/busybox:single@${layout.amd64.digest}`);
    expect(both.manifestDigest).toBe(layout.amd64.digest);
    const raw = await client.fetchManifestBytes(`${registry.host}/busybox@${layout.index.digest}`);
    expect(sha256(raw.bytes)).toBe(layout.index.digest);
    expect(raw.mediaType).toBe(MediaType.OciIndex);
    await client.close();
  });

  it("streams blobs into a content store with verification", async () => {
    const client = createRegistryClient();
    const store = createContentStore({ root: `${tmp.path}/store` });
    const stream = await client.fetchBlob(`${registry.host}/busybox`, layout.layer);
    const info = await store.write(stream, { digest: layout.layer.digest, size: layout.layer.size });
    expect(info.digest).toBe(layout.layer.digest);
    expect(await client.blobExists(`${registry.host}/busybox`, layout.layer.digest)).toBe(true);
    expect(await client.blobExists(`${registry.host}/busybox`, sha256("nope"))).toBe(false);
    expect(await client.statBlob(`${registry.host}/busybox`, layout.layer.digest)).toEqual({
      size: layout.layer.size,
    });
    expect(await client.statBlob(`${registry.host}/busybox`, sha256("nope"))).toBeUndefined();
    await client.close();
  });

  it("reports a missing tag as NOT_FOUND with the registry's message", async () => {
    const client = createRegistryClient();
    const err = await client.resolve(`${registry.host}/busybox:nope`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "NOT_FOUND", message: expect.stringContaining("manifest unknown") });
    await client.close();
  });

  it("follows a redirect to another loopback server for a blob", async () => {
    const proxy = await startFaultProxy(registry.port);
    const storage = await startFaultProxy(registry.port);
    proxy.setFault((r) =>
      r.method === "GET" && r.path.includes("/blobs/")
        ? { redirect: `http://${storage.host}${r.path}` }
        : undefined,
    );
    const client = createRegistryClient();
    const stream = await client.fetchBlob(`${proxy.host}/busybox`, layout.config);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(sha256(Buffer.concat(chunks))).toBe(layout.config.digest);
    expect(storage.requests.map((r) => r.method)).toEqual(["GET"]);
    await client.close();
    await proxy.stop();
    await storage.stop();
  });

  it("tries mirrors first and falls back to the registry", async () => {
    const mirror = await startRegistry();
    try {
      await skopeoPush(layout.dir, "single", `${mirror.host}/busybox:mirrored`);
      const mirrorProxy = await startFaultProxy(mirror.port);
      const config = parseRegistryConfig(
        `[registry."${registry.host}"]\nmirrors = ["${mirrorProxy.host}"]\n[registry."${mirrorProxy.host}"]\nhttp = true\n`,
      );
      const client = createRegistryClient({ config });
      // Only the mirror has this tag: the answer must come from it.
      const fromMirror = await client.resolve(`${registry.host}/busybox:mirrored`);
      expect(fromMirror.manifestDigest).toBe(layout.manifest.digest);
      // The mirror lacks this one (404): the registry answers.
      const fromRegistry = await client.resolve(`${registry.host}/busybox:latest`);
      expect(fromRegistry.index?.digest).toBe(layout.index.digest);
      expect(mirrorProxy.requests.some((r) => r.path.endsWith("/manifests/latest"))).toBe(true);
      const blob = await client.fetchBlob(`${registry.host}/busybox`, layout.config);
      const chunks: Buffer[] = [];
      for await (const c of blob) chunks.push(c as Buffer);
      expect(mirrorProxy.requests.some((r) => r.path.includes(layout.config.digest))).toBe(true);
      await client.close();
      await mirrorProxy.stop();
    } finally {
      await mirror.stop();
    }
  });

  it("stops reading when the signal aborts", async () => {
    const client = createRegistryClient();
    const controller = new AbortController();
    controller.abort(new Error("user pressed Ctrl-C"));
    await expect(
      client.resolve(`${registry.host}/busybox`, { signal: controller.signal }),
    ).rejects.toMatchObject({ code: "CANCELED" });
    await client.close();
  });

  it("gives the host slot back when a blob stream is destroyed unread", async () => {
    const client = createRegistryClient({ concurrencyPerHost: 1 });
    const stream = await client.fetchBlob(`${registry.host}/busybox`, layout.layer);
    stream.destroy();
    // With one slot per host, this only succeeds when the destroyed stream gave its slot back.
    const again = await client.fetchManifestBytes(`${registry.host}/busybox:single`);
    expect(again.digest).toBe(layout.manifest.digest);
    await client.close();
  });
});
