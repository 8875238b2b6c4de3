import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { inspect } from "node:util";
import { type Descriptor, isKilnError, type KilnError, sha256 } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FaultProxy, startFaultProxy } from "../../registry/src/test-helpers/proxy.test-helpers.js";
import { type FakeS3, startFakeS3 } from "./fauxqs.test-helpers.js";
import type { S3CacheOptions } from "./options.js";
import { createS3BlobStore } from "./store.js";

let s3: FakeS3;
let proxy: FaultProxy;
beforeAll(async () => {
  s3 = await startFakeS3();
  proxy = await startFaultProxy(Number(new URL(s3.endpoint).port));
});
afterAll(async () => {
  await proxy?.stop();
  await s3?.stop();
});

const through = async (extra: Partial<S3CacheOptions> = {}) =>
  createS3BlobStore({
    bucket: await s3.bucket(),
    region: s3.region,
    endpointUrl: `http://${proxy.host}`,
    usePathStyle: true,
    credentials: s3.credentials,
    ...extra,
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

const isBlobGet = (method: string, path: string, d: Descriptor) =>
  method === "GET" && decodeURIComponent(path).includes(d.digest);

describe("s3 store behind a faulty connection", () => {
  it("resumes a read that breaks off mid-body with a Range request", async () => {
    const store = await through();
    const { data, desc } = blob(3 * 1024 * 1024);
    await store.write(desc, Readable.from([data]));
    let gets = 0;
    proxy.setFault((r) =>
      isBlobGet(r.method, r.path, desc) && gets++ === 0 ? { dropAfter: 500_000 } : undefined,
    );
    const start = proxy.requests.length;
    expect((await readAll(await store.read(desc))).equals(data)).toBe(true);
    proxy.setFault(undefined);
    const ranged = proxy.requests.slice(start).filter((r) => r.headers.range !== undefined);
    expect(ranged.length).toBe(1);
    const offset = Number(/^bytes=(\d+)-$/.exec(String(ranged[0]?.headers.range))?.[1]);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(500_000);
    await store.close?.();
  });

  it("corrupt or short bodies are DATA_LOSS on read", async () => {
    const store = await through();
    const { data, desc } = blob(200_000);
    await store.write(desc, Readable.from([data]));
    for (const fault of [{ corrupt: true as const }, { shortBody: 150_000 }]) {
      proxy.setFault((r) => (isBlobGet(r.method, r.path, desc) ? fault : undefined));
      const err = await readAll(await store.read(desc)).catch((e: unknown) => e);
      expect(isKilnError(err, "DATA_LOSS"), `${JSON.stringify(fault)}: ${String(err)}`).toBe(true);
    }
    proxy.setFault(undefined);
    expect((await readAll(await store.read(desc))).equals(data)).toBe(true);
    await store.close?.();
  });

  it("retries a 503 on upload, and gives up after retry_max_attempts with UNAVAILABLE", async () => {
    const store = await through({ retryMaxAttempts: 3 });
    const { data, desc } = blob(10_000);
    let puts = 0;
    proxy.setFault((r) =>
      r.method === "PUT" && puts++ === 0
        ? { status: 503, body: "<Error><Code>SlowDown</Code></Error>" }
        : undefined,
    );
    await store.write(desc, Readable.from([data]));
    expect(puts).toBe(2);
    expect((await store.info(desc.digest))?.size).toBe(desc.size);

    const other = blob(10_000);
    puts = 0;
    proxy.setFault((r) => {
      if (r.method !== "PUT") return undefined;
      puts++;
      return { status: 503 };
    });
    const err = (await store
      .write(other.desc, Readable.from([other.data]))
      .catch((e: unknown) => e)) as KilnError;
    proxy.setFault(undefined);
    expect(isKilnError(err, "UNAVAILABLE"), String(err)).toBe(true);
    expect(puts).toBe(3);
    await store.close?.();
  });

  it("403 is PERMISSION_DENIED with a hint about credentials and no secret in the error", async () => {
    const store = await through();
    proxy.setFault(() => ({
      status: 403,
      headers: { "content-type": "application/xml" },
      body: "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
    }));
    const err = (await store.readPointer("main").catch((e: unknown) => e)) as KilnError;
    proxy.setFault(undefined);
    expect(isKilnError(err, "PERMISSION_DENIED"), String(err)).toBe(true);
    expect(err.hint).toContain("credentials");
    const printed = inspect(err, { depth: 8 });
    expect(printed).not.toContain(s3.credentials.secretAccessKey);
    await store.close?.();
  });

  it("uploads carry no CRC checksum headers or trailers, which several S3-compatible services reject", async () => {
    const store = await through();
    const start = proxy.requests.length;
    const small = blob(1000);
    const large = blob(6 * 1024 * 1024);
    await store.write(small.desc, Readable.from([small.data]));
    await store.write(large.desc, Readable.from([large.data]));
    await store.writePointer("main", Buffer.from("{}"));
    const uploads = proxy.requests.slice(start).filter((r) => r.method === "PUT" || r.method === "POST");
    expect(uploads.length).toBeGreaterThanOrEqual(4);
    for (const r of uploads) {
      const names = Object.keys(r.headers);
      expect(
        names.filter(
          (h) =>
            h.startsWith("x-amz-checksum") || h === "x-amz-trailer" || h === "x-amz-sdk-checksum-algorithm",
        ),
      ).toEqual([]);
      expect(String(r.headers["content-encoding"] ?? "")).not.toContain("aws-chunked");
    }
    await store.close?.();
  });

  it("a wrong region or addressing style (400 on HEAD, 301 PermanentRedirect) says so in the hint", async () => {
    const store = await through();
    proxy.setFault((r) => (r.method === "HEAD" ? { status: 400 } : undefined));
    const head = (await store.info(sha256("x")).catch((e: unknown) => e)) as KilnError;
    proxy.setFault((r) =>
      r.method === "GET"
        ? {
            status: 301,
            headers: { "content-type": "application/xml" },
            body: "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>",
          }
        : undefined,
    );
    const get = (await store.readPointer("main").catch((e: unknown) => e)) as KilnError;
    proxy.setFault(undefined);
    for (const err of [head, get]) {
      expect(isKilnError(err, "INVALID_ARGUMENT"), String(err)).toBe(true);
      expect(err.hint).toContain("region=");
    }
    await store.close?.();
  });

  it("credentials that may write but not list (HEAD 403) still upload; info explains s3:ListBucket", async () => {
    const options = { bucket: await s3.bucket() };
    const store = await through(options);
    const { data, desc } = blob(5000);
    proxy.setFault((r) => (r.method === "HEAD" ? { status: 403 } : undefined));
    await store.write(desc, Readable.from([data]));
    const err = (await store.info(desc.digest).catch((e: unknown) => e)) as KilnError;
    proxy.setFault(undefined);
    expect(isKilnError(err, "PERMISSION_DENIED"), String(err)).toBe(true);
    expect(err.hint).toContain("s3:ListBucket");
    expect((await store.info(desc.digest))?.size).toBe(5000);
    await store.close?.();
  });
});
