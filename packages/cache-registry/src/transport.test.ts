import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { type Descriptor, isKilnError, sha256 } from "@kiln/core";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki } from "../../registry/src/test-helpers/pki.test-helpers.js";
import { type FaultProxy, startFaultProxy } from "../../registry/src/test-helpers/proxy.test-helpers.js";
import {
  type RegistryServer,
  startRegistry,
} from "../../registry/src/test-helpers/registry-server.test-helpers.js";
import { registryCacheModule } from "./index.js";
import { createRegistryBlobStore } from "./store.js";

const anonymous = { get: async () => undefined };
let tmp: TempDir;
let tls: RegistryServer;
let plain: RegistryServer;
let proxy: FaultProxy;

beforeAll(async () => {
  tmp = await makeTempDir("cache-registry-transport");
  const pki = await makeTestPki(tmp.path);
  [tls, plain] = await Promise.all([
    startRegistry({ tls: { cert: pki.serverCert, key: pki.serverKey } }),
    startRegistry(),
  ]);
  proxy = await startFaultProxy(plain.port);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([tls?.stop(), plain?.stop()]);
  await tmp?.cleanup();
});

const blob = (size: number) => {
  const data = randomBytes(size);
  const desc: Descriptor = { mediaType: "application/octet-stream", digest: sha256(data), size };
  return { data, desc };
};

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("registry cache transport", () => {
  it("registry.insecure=true reaches a registry with an untrusted certificate; without it, it fails", async () => {
    const ref = `${tls.host}/cache/tls:c`;
    const { data, desc } = blob(5000);
    const insecure = registryCacheModule.parseAttrs({ ref, "registry.insecure": "true" }, {});
    const store = createRegistryBlobStore(insecure, { auth: anonymous });
    await store.write(desc, Readable.from([data]));
    expect((await readAll(await store.read(desc))).equals(data)).toBe(true);
    await store.close?.();

    const strict = createRegistryBlobStore(registryCacheModule.parseAttrs({ ref }, {}), { auth: anonymous });
    const err = await strict.info(desc.digest).catch((e: unknown) => e);
    // Loopback means plain HTTP unless told otherwise; the TLS registry answers that with a 400.
    expect(isKilnError(err, "INVALID_ARGUMENT"), String(err)).toBe(true);
    await strict.close?.();
  });

  it("corrupt blob bodies from the registry are DATA_LOSS; a broken-off body is resumed", async () => {
    const ref = `${proxy.host}/cache/faults:c`;
    const store = createRegistryBlobStore({ ref }, { auth: anonymous });
    const { data, desc } = blob(300_000);
    await store.write(desc, Readable.from([data]));
    const isGet = (method: string, path: string) => method === "GET" && path.includes(desc.digest);

    proxy.setFault((r) => (isGet(r.method, r.path) ? { corrupt: true } : undefined));
    const err = await readAll(await store.read(desc)).catch((e: unknown) => e);
    expect(isKilnError(err, "DATA_LOSS"), String(err)).toBe(true);

    let gets = 0;
    proxy.setFault((r) => (isGet(r.method, r.path) && gets++ === 0 ? { dropAfter: 100_000 } : undefined));
    expect((await readAll(await store.read(desc))).equals(data)).toBe(true);
    proxy.setFault(undefined);
    expect(gets).toBe(2);
    await store.close?.();
  });

  it("a large streamed upload that the registry cuts off is UNAVAILABLE and leaves no blob", async () => {
    const ref = `${proxy.host}/cache/cut:c`;
    const store = createRegistryBlobStore({ ref }, { auth: anonymous, bufferBelow: 0 });
    const { data, desc } = blob(2 * 1024 * 1024);
    proxy.setFault((r) => (r.method === "PUT" ? { reset: true } : undefined));
    const err = await store.write(desc, Readable.from([data])).catch((e: unknown) => e);
    proxy.setFault(undefined);
    expect(isKilnError(err, "UNAVAILABLE"), String(err)).toBe(true);
    expect(await store.info(desc.digest)).toBeUndefined();
    // A small (buffered) blob is retried by the client and lands despite one reset.
    const small = createRegistryBlobStore({ ref }, { auth: anonymous });
    const tiny = blob(1000);
    let puts = 0;
    proxy.setFault((r) => (r.method === "PUT" && puts++ === 0 ? { reset: true } : undefined));
    await small.write(tiny.desc, Readable.from([tiny.data]));
    proxy.setFault(undefined);
    expect(puts).toBe(2);
    expect((await small.info(tiny.desc.digest))?.size).toBe(1000);
    await Promise.all([store.close?.(), small.close?.()]);
  });
});
