import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { inspect } from "node:util";
import { isKilnError, type KilnError, sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { startFakeS3 } from "./fauxqs.test-helpers.js";
import { createS3BlobStore } from "./store.js";

describe("s3 store when the service fails", () => {
  it("a server that dies mid-upload is UNAVAILABLE within seconds, not endless retries", async () => {
    const s3 = await startFakeS3();
    const store = createS3BlobStore({
      bucket: await s3.bucket(),
      region: s3.region,
      endpointUrl: s3.endpoint,
      usePathStyle: true,
      credentials: s3.credentials,
    });
    const data = randomBytes(16 * 1024 * 1024);
    let sent = 0;
    // Sends the first 6 MiB (one part goes out), then stalls until the server is gone.
    let killed: () => void = () => {};
    const gone = new Promise<void>((resolve) => {
      killed = resolve;
    });
    const body = Readable.from(
      (async function* () {
        for (let at = 0; at < data.length; at += 1024 * 1024) {
          if (at === 6 * 1024 * 1024) await gone;
          sent += 1024 * 1024;
          yield data.subarray(at, at + 1024 * 1024);
        }
      })(),
    );
    const writing = store
      .write({ mediaType: "application/octet-stream", digest: sha256(data), size: data.length }, body)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    while (sent < 6 * 1024 * 1024) await sleep(10);
    await sleep(200);
    await s3.kill();
    const started = Date.now();
    killed();
    const err = (await writing) as KilnError;
    const elapsed = Date.now() - started;
    expect(isKilnError(err, "UNAVAILABLE"), String(err)).toBe(true);
    expect(elapsed).toBeLessThan(10_000);
    expect(err.message).not.toContain(s3.credentials.secretAccessKey);
    await store.close?.();
  }, 30_000);

  it("an endpoint nobody listens on is UNAVAILABLE for every operation, without secrets in messages", async () => {
    const s3 = await startFakeS3();
    const endpointUrl = s3.endpoint;
    await s3.stop();
    const store = createS3BlobStore({
      bucket: "b",
      region: "us-east-1",
      endpointUrl,
      usePathStyle: true,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "never-in-a-message" },
      retryMaxAttempts: 2,
    });
    const d = { mediaType: "x", digest: sha256("x"), size: 1 } as const;
    const attempts: Promise<unknown>[] = [
      store.info(d.digest),
      store.read(d),
      store.readPointer("main"),
      store.writePointer("main", Buffer.from("{}")),
      store.write(d, Readable.from([Buffer.from("x")])),
    ];
    for (const result of await Promise.allSettled(attempts)) {
      expect(result.status).toBe("rejected");
      const err = (result as PromiseRejectedResult).reason as KilnError;
      expect(isKilnError(err, "UNAVAILABLE"), String(err)).toBe(true);
      // inspect() prints the whole cause chain, as a crash report would.
      expect(`${inspect(err, { depth: 8 })} ${err.hint}`).not.toContain("never-in-a-message");
      expect(err.cause).toBeInstanceOf(Error);
    }
    await store.close?.();
  });
});
