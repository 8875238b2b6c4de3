import { createHash } from "node:crypto";
import { join } from "node:path";
import { type HttpFileServer, makeTempDir, startHttpFileServer, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalStore } from "../store.js";
import { filesOf, openTestEnv, runOp, sourceFor } from "./remote.test-helpers.js";
import type { OpEnvironment } from "./types.js";

const sha = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex")}`;
const MODIFIED = new Date("2024-03-01T12:00:00Z");

let tmp: TempDir;
let server: HttpFileServer;
let store: LocalStore;
let env: OpEnvironment;

beforeAll(async () => {
  tmp = await makeTempDir("http-source");
  server = await startHttpFileServer();
  ({ store, env } = await openTestEnv(join(tmp.path, "store")));
});
afterAll(async () => {
  await store?.close();
  await server?.close();
  await tmp?.cleanup();
});

describe("http source", () => {
  it("downloads one file named after the URL path, mode 0600, mtime from Last-Modified", async () => {
    server.files.set("/dl/tool.sh", { body: "#!/bin/sh\necho tool\n", lastModified: MODIFIED });
    const ref = await runOp(sourceFor(env, `${server.url}/dl/tool.sh?version=2`));
    expect(await filesOf(ref)).toEqual({
      "tool.sh": { content: "#!/bin/sh\necho tool\n", mode: 0o600, uid: 0, mtime: MODIFIED.getTime() / 1000 },
    });
  });

  it("names the file by http.filename, else Content-Disposition; applies perm, uid and gid", async () => {
    server.files.set("/get", { body: "data", contentDisposition: 'attachment; filename="report.csv"' });
    const byHeader = await filesOf(await runOp(sourceFor(env, `${server.url}/get`)));
    expect(Object.keys(byHeader)).toEqual(["report.csv"]);
    expect(byHeader["report.csv"]?.mtime).toBe(0);
    const named = await filesOf(
      await runOp(
        sourceFor(env, `${server.url}/get`, {
          "http.filename": "x.bin",
          "http.perm": "0755",
          "http.uid": "1000",
        }),
      ),
    );
    expect(named).toEqual({ "x.bin": expect.objectContaining({ content: "data", mode: 0o755, uid: 1000 }) });
    server.files.set("/", { body: "index" });
    expect(Object.keys(await filesOf(await runOp(sourceFor(env, `${server.url}/`))))).toEqual(["download"]);
  });

  it("follows redirects and keeps the name from the original URL", async () => {
    server.files.set("/real/blob-123", { body: "redirected" });
    server.redirects.set("/latest/app.txt", "/real/blob-123");
    expect(await filesOf(await runOp(sourceFor(env, `${server.url}/latest/app.txt`)))).toEqual({
      "app.txt": expect.objectContaining({ content: "redirected" }),
    });
  });

  it("keys by content: the same bytes give the same key, changed bytes a new one", async () => {
    server.files.set("/v.txt", { body: "one" });
    const key = async () => (await sourceFor(env, `${server.url}/v.txt`).cacheMap({})).digest;
    const first = await key();
    expect(await key()).toBe(first);
    server.files.set("/v.txt", { body: "two" });
    expect(await key()).not.toBe(first);
  });

  it("asks with If-None-Match for a remembered ETag and reuses the download on 304", async () => {
    server.files.set("/e.txt", { body: "etagged", etag: '"v1"' });
    const op1 = sourceFor(env, `${server.url}/e.txt`);
    const key1 = (await op1.cacheMap({})).digest;
    await runOp(op1);
    const before = server.requests.length;
    const op2 = sourceFor(env, `${server.url}/e.txt`);
    expect((await op2.cacheMap({})).digest).toBe(key1);
    expect(server.requests.slice(before)).toEqual([{ method: "GET", path: "/e.txt", ifNoneMatch: '"v1"' }]);
    expect(await filesOf(await runOp(op2))).toEqual({
      "e.txt": expect.objectContaining({ content: "etagged" }),
    });
  });

  it("with http.checksum the key needs no request; a matching download succeeds", async () => {
    server.files.set("/c.txt", { body: "checked" });
    const before = server.requests.length;
    const op = sourceFor(env, `${server.url}/c.txt`, { "http.checksum": sha("checked") });
    const { digest } = await op.cacheMap({});
    expect(server.requests.length).toBe(before);
    // Same checksum, same name: the same key whatever the URL's host (content addressed).
    expect(
      (await sourceFor(env, "http://other.invalid/c.txt", { "http.checksum": sha("checked") }).cacheMap({}))
        .digest,
    ).toBe(digest);
    expect(await filesOf(await runOp(op))).toEqual({
      "c.txt": expect.objectContaining({ content: "checked" }),
    });
  });

  it("a checksum mismatch is DATA_LOSS naming the URL without its credentials", async () => {
    server.files.set("/bad.txt", { body: "tampered" });
    const url = server.url.replace("http://", "http://user:hunter2@");
    const op = sourceFor(env, `${url}/bad.txt`, { "http.checksum": sha("original") });
    const err = await runOp(op).catch((e) => e);
    expect(err).toMatchObject({ code: "DATA_LOSS" });
    expect(err.message).toContain(`checksum mismatch for http://xxxxx@127.0.0.1`);
    expect(err.message).toContain(sha("tampered"));
    expect(err.message).not.toContain("hunter2");
    // Credentials from the URL went to the server as Basic auth.
    expect(server.requests.at(-1)?.authorization).toBe(
      `Basic ${Buffer.from("user:hunter2").toString("base64")}`,
    );
  });

  it("verifies sha512 checksums too, and a cached verified download needs no second request", async () => {
    server.files.set("/s512.txt", { body: "five twelve" });
    const good = `sha512:${createHash("sha512").update("five twelve").digest("hex")}`;
    expect(
      await filesOf(await runOp(sourceFor(env, `${server.url}/s512.txt`, { "http.checksum": good }))),
    ).toEqual({
      "s512.txt": expect.objectContaining({ content: "five twelve" }),
    });
    const before = server.requests.length;
    await runOp(sourceFor(env, `${server.url}/s512.txt`, { "http.checksum": good }));
    expect(server.requests.length).toBe(before);
    const bad = `sha512:${"0".repeat(128)}`;
    await expect(
      runOp(sourceFor(env, `${server.url}/s512.txt`, { "http.checksum": bad })),
    ).rejects.toMatchObject({
      code: "DATA_LOSS",
      message: expect.stringContaining(`got ${good}`),
    });
  });

  it("sends auth from HTTP_AUTH_TOKEN_<host> / http.authheadersecret secrets", async () => {
    server.files.set("/private.txt", { body: "private" });
    const secrets: Record<string, string> = { "HTTP_AUTH_TOKEN_127.0.0.1": "tok", MY_HEADER: "Custom abc" };
    const withSecrets: OpEnvironment = {
      ...env,
      secret: async (id) => (secrets[id] === undefined ? undefined : Buffer.from(secrets[id] as string)),
    };
    await sourceFor(withSecrets, `${server.url}/private.txt`).cacheMap({});
    expect(server.requests.at(-1)?.authorization).toBe("Bearer tok");
    await sourceFor(withSecrets, `${server.url}/private.txt`, {
      "http.authheadersecret": "MY_HEADER",
    }).cacheMap({});
    expect(server.requests.at(-1)?.authorization).toBe("Custom abc");
    await expect(
      sourceFor(withSecrets, `${server.url}/private.txt`, { "http.authheadersecret": "NOPE" }).cacheMap({}),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    // Redirected to another origin: the Authorization header stays behind.
    const other = await startHttpFileServer();
    try {
      other.files.set("/moved.txt", { body: "moved" });
      server.redirects.set("/go-away.txt", `${other.url}/moved.txt`);
      await sourceFor(withSecrets, `${server.url}/go-away.txt`).cacheMap({});
      expect(other.requests.at(-1)).toEqual({ method: "GET", path: "/moved.txt" });
    } finally {
      await other.close();
    }
  });

  it("404 is NOT_FOUND; an unreachable server is UNAVAILABLE", async () => {
    await expect(sourceFor(env, `${server.url}/missing.txt`).cacheMap({})).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringContaining("invalid response status 404"),
    });
    await expect(sourceFor(env, "http://127.0.0.1:1/x").cacheMap({})).rejects.toMatchObject({
      code: "UNAVAILABLE",
    });
  });
});
