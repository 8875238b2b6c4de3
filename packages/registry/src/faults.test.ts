import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sha256 } from "@kiln/core";
import { createContentStore } from "@kiln/oci";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../testkit/src/index.js";
import { createRegistryClient, type RegistryClient } from "./client.js";
import {
  buildMultiArchLayout,
  type MultiArchLayout,
  randomBlob,
  skopeoPush,
} from "./test-helpers/fixtures.test-helpers.js";
import { type FaultProxy, startFaultProxy } from "./test-helpers/proxy.test-helpers.js";
import { type RegistryServer, startRegistry } from "./test-helpers/registry-server.test-helpers.js";

let tmp: TempDir;
let registry: RegistryServer;
let proxy: FaultProxy;
let layout: MultiArchLayout;
let client: RegistryClient;
let name: string;

beforeAll(async () => {
  tmp = await makeTempDir("registry-faults");
  registry = await startRegistry();
  layout = await buildMultiArchLayout(join(tmp.path, "layout"));
  await skopeoPush(layout.dir, "multi", `${registry.host}/busybox:latest`);
  proxy = await startFaultProxy(registry.port);
  name = `${proxy.host}/busybox`;
});

beforeEach(async () => {
  proxy.setFault(undefined);
  proxy.requests.length = 0;
  await client?.close();
  client = createRegistryClient({ retry: { attempts: 4, baseDelayMs: 10 } });
});

afterAll(async () => {
  await client?.close();
  await proxy?.stop();
  await registry?.stop();
  await tmp?.cleanup();
});

const denied = JSON.stringify({
  errors: [{ code: "DENIED", message: "requested access to the resource is denied" }],
});
const isBlob = (path: string, digest: string) => path.includes(`/blobs/${digest}`);

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("fault injection through a loopback proxy", () => {
  it("retries 500s and succeeds", async () => {
    proxy.setFault((r, i) =>
      r.path.includes("/manifests/") && i < 2 ? { status: 500, body: "boom" } : undefined,
    );
    const resolved = await client.resolve(name);
    expect(resolved.index?.digest).toBe(layout.index.digest);
    expect(proxy.requests.filter((r) => r.path.endsWith("/manifests/latest"))).toHaveLength(3);
  });

  it("waits for Retry-After on 429", async () => {
    let limited = 0;
    proxy.setFault(() => (limited++ === 0 ? { status: 429, headers: { "retry-after": "1" } } : undefined));
    const started = Date.now();
    await client.fetchManifestBytes(`${name}@${layout.amd64.digest}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it("gives up with UNAVAILABLE and the registry's message after the attempts", async () => {
    proxy.setFault(() => ({
      status: 503,
      body: JSON.stringify({ errors: [{ code: "UNAVAILABLE", message: "maintenance window" }] }),
    }));
    const err = await client.resolve(name).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "UNAVAILABLE",
      message: expect.stringContaining("maintenance window"),
    });
    expect(proxy.requests).toHaveLength(4);
  });

  it("fails fast on 403 and 404 with the registry's message", async () => {
    proxy.setFault(() => ({ status: 403, body: denied, headers: { "content-type": "application/json" } }));
    await expect(client.resolve(name)).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
      message: expect.stringContaining("requested access to the resource is denied"),
    });
    expect(proxy.requests).toHaveLength(1);
    proxy.setFault(undefined);
    await expect(client.fetchBlob(name, randomBlob(10).desc)).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringContaining("blob unknown"),
    });
  });

  it("retries a connection reset before the response", async () => {
    let resets = 0;
    proxy.setFault(() => (resets++ < 2 ? { reset: true } : undefined));
    expect((await client.resolve(name)).manifestDigest).toBe(layout.amd64.digest);
  });

  it("resumes a blob whose connection drops mid-body (Range)", async () => {
    let drops = 0;
    proxy.setFault((r) =>
      isBlob(r.path, layout.layer.digest) && drops++ === 0 ? { dropAfter: 100_000 } : undefined,
    );
    const data = await drain(await client.fetchBlob(name, layout.layer));
    expect(sha256(data)).toBe(layout.layer.digest);
    const gets = proxy.requests.filter((r) => isBlob(r.path, layout.layer.digest));
    expect(gets.map((r) => r.headers.range)).toEqual([undefined, "bytes=100000-"]);
  });

  it("rejects a truncated blob with DATA_LOSS and stores nothing", async () => {
    const store = createContentStore({ root: join(tmp.path, "store-short") });
    proxy.setFault((r) => (isBlob(r.path, layout.layer.digest) ? { shortBody: 5000 } : undefined));
    await expect(client.fetchBlob(name, layout.layer)).rejects.toMatchObject({ code: "DATA_LOSS" });
    // A registry that lies consistently about the length is caught while streaming too.
    proxy.setFault((r) => (isBlob(r.path, layout.layer.digest) ? { dropAfter: 5000 } : undefined));
    const stream = await client.fetchBlob(name, layout.layer);
    await expect(
      store.write(stream, { digest: layout.layer.digest, size: layout.layer.size }),
    ).rejects.toBeDefined();
    expect(await store.info(layout.layer.digest)).toBeUndefined();
  });

  it("rejects wrong bytes with a digest error before the stream ends", async () => {
    proxy.setFault((r) => (isBlob(r.path, layout.layer.digest) ? { corrupt: true } : undefined));
    const stream = await client.fetchBlob(name, layout.layer);
    let ended = false;
    stream.on("end", () => {
      ended = true;
    });
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await expect(pipeline(stream, sink)).rejects.toMatchObject({
      code: "DATA_LOSS",
      message: expect.stringContaining("digest"),
    });
    expect(ended).toBe(false);
    const store = createContentStore({ root: join(tmp.path, "store-corrupt") });
    await expect(store.write(await client.fetchBlob(name, layout.layer))).rejects.toMatchObject({
      code: "DATA_LOSS",
    });
    expect(await store.info(layout.layer.digest)).toBeUndefined();
  });

  it("rejects a manifest whose bytes do not match the digest asked for", async () => {
    proxy.setFault((r) => (r.path.includes("/manifests/") ? { corrupt: true } : undefined));
    await expect(client.fetchManifestBytes(`${name}@${layout.amd64.digest}`)).rejects.toMatchObject({
      code: "DATA_LOSS",
    });
    // By tag the registry's Docker-Content-Digest header catches it.
    await expect(client.resolve(name)).rejects.toMatchObject({ code: "DATA_LOSS" });
  });

  it("restarts an upload whose connection broke, and succeeds", async () => {
    const { data, desc } = randomBlob(300_000, 3);
    let broken = 0;
    proxy.setFault((r) =>
      r.method === "PUT" && r.path.includes("/blobs/uploads/") && broken++ === 0
        ? { reset: true }
        : undefined,
    );
    expect(await client.pushBlob(`${proxy.host}/uploads`, desc, async () => Readable.from([data]))).toBe(
      "uploaded",
    );
    expect(proxy.requests.filter((r) => r.method === "POST")).toHaveLength(2);
    expect(sha256(await drain(await client.fetchBlob(`${registry.host}/uploads`, desc)))).toBe(desc.digest);
  });

  it("keeps at most concurrencyPerHost requests in flight per host", async () => {
    proxy.setFault(() => ({ delay: 100 }));
    const limited = createRegistryClient({ concurrencyPerHost: 2 });
    const digests = [layout.amd64.digest, layout.arm64.digest, layout.index.digest];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => limited.fetchManifestBytes(`${name}@${digests[i % 3]}`)),
    );
    expect(proxy.maxInFlight()).toBe(2);
    await limited.close();
  });
});
