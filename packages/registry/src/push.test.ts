import { createReadStream } from "node:fs";
import { copyFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { type Descriptor, digestHex, MediaType, sha256 } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BusyboxLayout,
  buildBusyboxLayout,
  makeTempDir,
  type TempDir,
} from "../../testkit/src/index.js";
import { createRegistryClient, type RegistryClient } from "./client.js";
import { parseRegistryConfig } from "./config.js";
import { createDockerCredentialStore } from "./credentials.js";
import { randomBlob, skopeoDigest, skopeoInspect } from "./test-helpers/fixtures.test-helpers.js";
import { makeTestPki, type TestPki } from "./test-helpers/pki.test-helpers.js";
import { startFaultProxy } from "./test-helpers/proxy.test-helpers.js";
import { type RegistryServer, startRegistry } from "./test-helpers/registry-server.test-helpers.js";

let tmp: TempDir;
let pki: TestPki;
let layout: BusyboxLayout;
let basic: RegistryServer;
let tls: RegistryServer;
const USER = "kiln-user";
const PASSWORD = "s3cret-Pa55word";

beforeAll(async () => {
  tmp = await makeTempDir("registry-push");
  pki = await makeTestPki(tmp.path);
  layout = await buildBusyboxLayout(join(tmp.path, "layout"), { tag: "v1" });
  basic = await startRegistry({ htpasswd: { [USER]: PASSWORD } });
  tls = await startRegistry({ tls: { cert: pki.serverCert, key: pki.serverKey } });
});

afterAll(async () => {
  await basic?.stop();
  await tls?.stop();
  await tmp?.cleanup();
});

const blobPath = (d: Descriptor) => join(layout.dir, "blobs", "sha256", digestHex(d.digest));

/** Pushes the busybox image (config, layer, manifest) the way an exporter would. */
async function pushImage(client: RegistryClient, ref: string, mountFrom?: string) {
  const results = [];
  for (const desc of [layout.config, layout.layer]) {
    results.push(
      await client.pushBlob(
        ref,
        desc,
        async () => createReadStream(blobPath(desc)),
        mountFrom ? { mountFrom } : {},
      ),
    );
  }
  const manifest = await readFile(blobPath(layout.manifest));
  const digest = await client.pushManifest(ref, manifest, MediaType.OciManifest);
  return { results, digest };
}

describe("push with basic auth (htpasswd) from a Docker config written by login()", () => {
  it("pushes an image skopeo then sees with the same digest; a second push uploads nothing", async () => {
    const store = createDockerCredentialStore({ configPath: join(tmp.path, "docker", "config.json") });
    await store.login(basic.host, USER, PASSWORD);
    const proxy = await startFaultProxy(basic.port);
    const client = createRegistryClient({ auth: store });
    const ref = `${proxy.host}/kiln/busybox:v1`;
    // The credentials are stored for the proxy's host too (it is the host the client talks to).
    await store.login(proxy.host, USER, PASSWORD);

    const first = await pushImage(client, ref);
    expect(first.results).toEqual(["uploaded", "uploaded"]);
    expect(first.digest).toBe(layout.manifest.digest);
    const creds = `${USER}:${PASSWORD}`;
    expect(await skopeoDigest(`${basic.host}/kiln/busybox:v1`, { creds })).toBe(first.digest);
    const inspected = await skopeoInspect(`${basic.host}/kiln/busybox:v1`, { creds });
    expect(inspected.Layers).toEqual([layout.layer.digest]);

    const uploads = () =>
      proxy.requests.filter((r) => r.method === "PUT" || r.method === "PATCH" || r.method === "POST");
    const before = uploads().length;
    const second = await pushImage(client, ref);
    expect(second.results).toEqual(["exists", "exists"]);
    // Only the manifest PUT: no blob was uploaded again.
    expect(
      uploads()
        .slice(before)
        .map((r) => `${r.method} ${r.path.split("?")[0]}`),
    ).toEqual([`PUT /v2/kiln/busybox/manifests/v1`]);
    await client.close();
    await proxy.stop();
  });

  it("mounts blobs from another repository instead of uploading them", async () => {
    const auth = { get: async () => ({ username: USER, password: PASSWORD }) };
    const proxy = await startFaultProxy(basic.port);
    const client = createRegistryClient({ auth });
    await pushImage(client, `${proxy.host}/kiln/source:v1`);
    const before = proxy.requests.length;
    const pushed = await pushImage(client, `${proxy.host}/kiln/copy:v1`, "kiln/source");
    expect(pushed.results).toEqual(["mounted", "mounted"]);
    const mounts = proxy.requests.slice(before).filter((r) => r.method === "POST");
    expect(mounts.every((r) => r.path.includes("mount=") && r.path.includes("from=kiln%2Fsource"))).toBe(
      true,
    );
    expect(
      proxy.requests.slice(before).filter((r) => r.path.includes("/blobs/uploads/") && r.method === "PUT"),
    ).toEqual([]);
    await client.close();
    await proxy.stop();
  });

  it("uploads big blobs in PATCH chunks with Content-Range", async () => {
    const auth = { get: async () => ({ username: USER, password: PASSWORD }) };
    const proxy = await startFaultProxy(basic.port);
    const client = createRegistryClient({ auth, upload: { chunkedAbove: 1000, chunkSize: 4096 } });
    const { data, desc } = randomBlob(10_000, 7);
    expect(await client.pushBlob(`${proxy.host}/kiln/chunks`, desc, async () => Readable.from([data]))).toBe(
      "uploaded",
    );
    const patches = proxy.requests.filter((r) => r.method === "PATCH");
    expect(patches.map((r) => r.headers["content-range"])).toEqual(["0-4095", "4096-8191", "8192-9999"]);
    const back = await client.fetchBlob(`${basic.host}/kiln/chunks`, desc);
    const chunks: Buffer[] = [];
    for await (const c of back) chunks.push(c as Buffer);
    expect(sha256(Buffer.concat(chunks))).toBe(desc.digest);
    await client.close();
    await proxy.stop();
  });

  it("fails with PERMISSION_DENIED and no credentials in the message when the password is wrong", async () => {
    const wrong = "Wr0ng-Secret-Value";
    const client = createRegistryClient({ auth: { get: async () => ({ username: USER, password: wrong }) } });
    const err = (await pushImage(client, `${basic.host}/kiln/denied:v1`).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: "PERMISSION_DENIED" });
    const text = `${err.message} ${(err as { hint?: string }).hint} ${JSON.stringify(err)}`;
    expect(text).not.toContain(wrong);
    expect(text).not.toContain(Buffer.from(`${USER}:${wrong}`).toString("base64"));
    expect(err.message).toMatch(/401/);
    const anonymous = createRegistryClient();
    await expect(anonymous.resolve(`${basic.host}/kiln/busybox:v1`)).rejects.toMatchObject({
      code: "PERMISSION_DENIED",
    });
    await client.close();
    await anonymous.close();
  });
});

describe("push over TLS with a test CA", () => {
  it("pushes with the CA from kiln.toml and skopeo sees the digest", async () => {
    const config = parseRegistryConfig(`[registry."${tls.host}"]\nca = ["${pki.caCert}"]\n`);
    const client = createRegistryClient({ config });
    const pushed = await pushImage(client, `${tls.host}/kiln/tls:v1`);
    const certDir = join(tmp.path, "certs");
    await mkdir(certDir, { recursive: true });
    await copyFile(pki.caCert, join(certDir, "ca.crt"));
    expect(await skopeoDigest(`${tls.host}/kiln/tls:v1`, { certDir })).toBe(pushed.digest);
    const resolved = await client.resolve(`${tls.host}/kiln/tls:v1`);
    expect(resolved.manifestDigest).toBe(layout.manifest.digest);
    await client.close();
  });

  it("refuses an unknown CA with a hint, and skips verification when insecure", async () => {
    const strict = createRegistryClient({
      config: parseRegistryConfig(`[registry."${tls.host}"]\nhttp = false\n`),
    });
    await expect(strict.resolve(`${tls.host}/kiln/tls:v1`)).rejects.toMatchObject({
      code: "FAILED_PRECONDITION",
      hint: expect.stringContaining("ca = "),
    });
    const insecure = createRegistryClient({
      config: parseRegistryConfig(`[registry."${tls.host}"]\ninsecure = true\n`),
    });
    expect((await insecure.resolve(`${tls.host}/kiln/tls:v1`)).manifestDigest).toBe(layout.manifest.digest);
    // The registry.insecure attribute: HTTPS without verification first, plain HTTP when that fails.
    const attr = createRegistryClient();
    expect((await attr.resolve(`${tls.host}/kiln/tls:v1`, { insecure: true })).manifestDigest).toBe(
      layout.manifest.digest,
    );
    expect(
      await attr
        .resolve(`${basic.host}/kiln/busybox:v1`, { insecure: true })
        .catch((e: { code: string }) => e.code),
    ).toBe("PERMISSION_DENIED"); // reached over HTTP after the TLS attempt failed
    await Promise.all([strict.close(), insecure.close(), attr.close()]);
  });
});
