import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
} from "@aws-sdk/client-s3";
import { type Descriptor, isKilnError, sha256 } from "@kiln/core";
import { blobStoreSuite } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeS3, startFakeS3 } from "./fauxqs.test-helpers.js";
import { s3Cache, s3CacheModule } from "./index.js";
import type { S3CacheOptions } from "./options.js";
import { createS3BlobStore } from "./store.js";

let s3: FakeS3;
beforeAll(async () => {
  s3 = await startFakeS3();
});
afterAll(async () => {
  await s3?.stop();
});

const base = async (extra: Partial<S3CacheOptions> = {}): Promise<S3CacheOptions> => ({
  bucket: await s3.bucket(),
  region: s3.region,
  endpointUrl: s3.endpoint,
  usePathStyle: true,
  credentials: s3.credentials,
  ...extra,
});

const desc = (data: Buffer): Descriptor => ({
  mediaType: "application/octet-stream",
  digest: sha256(data),
  size: data.length,
});

blobStoreSuite(async () => ({ store: s3Cache(await base()).create() }), { name: "s3 BlobStore (fauxqs)" });
blobStoreSuite(async () => ({ store: s3Cache(await base({ prefix: "team/a/" })).create() }), {
  name: "s3 BlobStore with a prefix (fauxqs)",
});

describe("s3 layout and behaviour", () => {
  it("uses BuildKit's keys: <prefix><blobs_prefix><digest> and <prefix><manifests_prefix><name>", async () => {
    const attrs = {
      bucket: await s3.bucket(),
      region: s3.region,
      endpoint_url: s3.endpoint,
      use_path_style: "true",
      prefix: "ci/",
      blobs_prefix: "b/",
      manifests_prefix: "m/",
      name: "main;pr-7",
      access_key_id: s3.credentials.accessKeyId,
      secret_access_key: s3.credentials.secretAccessKey,
    };
    const backend = s3CacheModule.backend(s3CacheModule.parseAttrs(attrs, {}));
    const store = backend.create();
    const data = randomBytes(1000);
    await store.write(desc(data), Readable.from([data]));
    for (const name of backend.options.names) await store.writePointer(name, Buffer.from(`{"n":"${name}"}`));
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: attrs.bucket }));
    expect((listed.Contents ?? []).map((c) => c.Key).sort()).toEqual([
      `ci/b/${sha256(data)}`,
      "ci/m/main",
      "ci/m/pr-7",
    ]);
    const pointer = await s3.client.send(new GetObjectCommand({ Bucket: attrs.bucket, Key: "ci/m/pr-7" }));
    expect(await pointer.Body?.transformToString()).toBe('{"n":"pr-7"}');
    await store.close?.();
  });

  it("a multipart upload whose last part is wrong is DATA_LOSS and leaves no object", async () => {
    const options = await base();
    const store = createS3BlobStore(options);
    const data = randomBytes(11 * 1024 * 1024);
    const d = desc(data);
    const bad = Buffer.from(data);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
    const chunks = Array.from({ length: 11 }, (_, i) => bad.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
    const err = await store.write(d, Readable.from(chunks)).catch((e: unknown) => e);
    expect(isKilnError(err, "DATA_LOSS"), String(err)).toBe(true);
    expect(await store.info(d.digest)).toBeUndefined();
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: options.bucket }));
    expect(listed.Contents ?? []).toEqual([]);
    // No multipart upload is left open either: S3 refuses to delete a bucket that has one.
    await s3.client.send(new DeleteBucketCommand({ Bucket: options.bucket }));
    await s3.client.send(new CreateBucketCommand({ Bucket: options.bucket }));
    // The same store then takes the right bytes in parts.
    await store.write(d, Readable.from([data.subarray(0, 7_000_000), data.subarray(7_000_000)]));
    expect((await store.info(d.digest))?.size).toBe(data.length);
    await store.close?.();
  });

  it("a write canceled after some parts went up aborts its multipart upload", async () => {
    const options = await base();
    const store = createS3BlobStore(options);
    const data = randomBytes(16 * 1024 * 1024);
    const d = desc(data);
    const controller = new AbortController();
    let sent = 0;
    const body = new Readable({
      read() {
        // 11 MiB (two parts) and then nothing: the upload waits for the third part.
        if (sent < 11 * 1024 * 1024) {
          this.push(data.subarray(sent, sent + 1024 * 1024));
          sent += 1024 * 1024;
        }
      },
    });
    const writing = store.write(d, body, { signal: controller.signal }).catch((e: unknown) => e);
    while (sent < 11 * 1024 * 1024) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    controller.abort();
    expect(isKilnError(await writing, "CANCELED")).toBe(true);
    // The abort of the multipart upload may trail the rejection by a request or two.
    let deleted: unknown;
    for (let i = 0; i < 50; i++) {
      deleted = await s3.client.send(new DeleteBucketCommand({ Bucket: options.bucket })).then(
        () => true,
        (e: unknown) => e,
      );
      if (deleted === true) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(deleted).toBe(true);
    await store.close?.();
  });

  it("a too-long body is DATA_LOSS before the upload completes", async () => {
    const store = createS3BlobStore(await base());
    const data = randomBytes(4096);
    const err = await store
      .write(desc(data), Readable.from([data, Buffer.from("extra")]))
      .catch((e: unknown) => e);
    expect(isKilnError(err, "DATA_LOSS")).toBe(true);
    expect(await store.info(sha256(data))).toBeUndefined();
    await store.close?.();
  });

  it("touch copies an old blob onto itself (touch_refresh) and leaves a fresh one alone", async () => {
    const options = await base({ touchRefreshMs: 0 });
    const store = createS3BlobStore(options);
    const data = randomBytes(2048);
    const d = desc(data);
    await store.write(d, Readable.from([data]));
    const key = `blobs/${d.digest}`;
    const before = await s3.client.send(new HeadObjectCommand({ Bucket: options.bucket, Key: key }));
    await new Promise((r) => setTimeout(r, 20));
    await store.touch?.(d.digest);
    const after = await s3.client.send(new HeadObjectCommand({ Bucket: options.bucket, Key: key }));
    const stamp = (h: typeof before) => new Date(h.Metadata?.["updated-at"] ?? 0).getTime();
    expect(stamp(after)).toBeGreaterThan(stamp(before));
    expect(after.ContentType).toBe(before.ContentType);
    expect((await store.info(d.digest))?.updatedAt).toEqual(after.LastModified);
    expect(after.LastModified?.getTime()).toBeGreaterThanOrEqual(before.LastModified?.getTime() ?? 0);
    // A write of an existing blob refreshes it the same way instead of uploading it again.
    await store.write(d, Readable.from([data]));
    const again = await s3.client.send(new HeadObjectCommand({ Bucket: options.bucket, Key: key }));
    expect(stamp(again)).toBeGreaterThanOrEqual(stamp(after));

    const lazy = createS3BlobStore({ ...options, touchRefreshMs: 3_600_000 });
    await lazy.touch?.(d.digest);
    const untouched = await s3.client.send(new HeadObjectCommand({ Bucket: options.bucket, Key: key }));
    expect(stamp(untouched)).toBe(stamp(again));
    const missing = await lazy.touch?.(sha256("absent")).catch((e: unknown) => e);
    expect(isKilnError(missing, "NOT_FOUND")).toBe(true);
    await Promise.all([store.close?.(), lazy.close?.()]);
  });

  it("reports the upload hint and the names as options; create() does no I/O", () => {
    const backend = s3Cache({ bucket: "b", region: "r", endpointUrl: "http://127.0.0.1:1", names: ["x"] });
    expect(backend.uploadParallelism).toBe(4);
    expect(backend.pointerNames).toEqual(["x"]);
    const store = backend.create();
    expect(store.capabilities).toEqual({ rangeReads: true, touch: true, conditionalPointers: false });
  });
});
