import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type Descriptor, digestHex, MediaType } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BusyboxLayout,
  buildBusyboxLayout,
  makeTempDir,
  type TempDir,
} from "../../testkit/src/index.js";
import { createRegistryClient } from "./client.js";
import { skopeoDigest, skopeoPush } from "./test-helpers/fixtures.test-helpers.js";
import { makeTestPki } from "./test-helpers/pki.test-helpers.js";
import { type RegistryServer, startRegistry } from "./test-helpers/registry-server.test-helpers.js";
import { startTokenServer, type TokenServer } from "./test-helpers/token-server.test-helpers.js";

let tmp: TempDir;
let layout: BusyboxLayout;
let tokens: TokenServer;
let registry: RegistryServer;
const USER = "builder";
const PASSWORD = "t0ken-Server-Pass";
const creds = { get: async () => ({ username: USER, password: PASSWORD }) };

beforeAll(async () => {
  tmp = await makeTempDir("registry-token");
  const pki = await makeTestPki(tmp.path);
  layout = await buildBusyboxLayout(join(tmp.path, "layout"), { tag: "v1" });
  tokens = await startTokenServer({
    users: { [USER]: PASSWORD },
    key: pki.tokenKey,
    cert: pki.tokenCert,
    anonymousActions: ["pull"],
  });
  registry = await startRegistry({
    token: {
      realm: tokens.realm,
      service: tokens.service,
      issuer: tokens.issuer,
      rootCertBundle: pki.tokenCert,
    },
  });
});

afterAll(async () => {
  await registry?.stop();
  await tokens?.stop();
  await tmp?.cleanup();
});

const blobPath = (d: Descriptor) => join(layout.dir, "blobs", "sha256", digestHex(d.digest));

describe("bearer token auth (distribution auth.token + a Node token server)", () => {
  it("pushes with a push-scoped token, reusing it across requests; skopeo sees the digest", async () => {
    const client = createRegistryClient({ auth: creds });
    const ref = `${registry.host}/team/app:v1`;
    for (const desc of [layout.config, layout.layer]) {
      expect(await client.pushBlob(ref, desc, async () => createReadStream(blobPath(desc)))).toBe("uploaded");
    }
    const digest = await client.pushManifest(
      ref,
      await readFile(blobPath(layout.manifest)),
      MediaType.OciManifest,
    );
    expect(digest).toBe(layout.manifest.digest);
    // One token for repository:team/app:pull,push, cached for every later request.
    const pushTokens = tokens.requests.filter((r) => r.scopes.includes("repository:team/app:pull,push"));
    expect(pushTokens).toHaveLength(1);
    expect(pushTokens[0]?.user).toBe(USER);
    expect(await skopeoDigest(ref, { creds: `${USER}:${PASSWORD}` })).toBe(digest);
    await client.close();
  });

  it("pulls what skopeo pushed with a pull token", async () => {
    await skopeoPush(layout.dir, "v1", `${registry.host}/team/base:v1`, { creds: `${USER}:${PASSWORD}` });
    const client = createRegistryClient({ auth: creds });
    const before = tokens.requests.length;
    const resolved = await client.resolve(`${registry.host}/team/base:v1`);
    expect(resolved.manifestDigest).toBe(layout.manifest.digest);
    const blob = await client.fetchBlob(`${registry.host}/team/base:v1`, layout.config);
    const chunks: Buffer[] = [];
    for await (const c of blob) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).length).toBe(layout.config.size);
    expect(tokens.requests.slice(before).map((r) => r.scopes)).toEqual([["repository:team/base:pull"]]);
    await client.close();
  });

  it("pulls anonymously when the token server grants pull to anyone, but cannot push", async () => {
    const client = createRegistryClient();
    const resolved = await client.resolve(`${registry.host}/team/base:v1`);
    expect(resolved.manifestDigest).toBe(layout.manifest.digest);
    const err = await client
      .pushBlob(`${registry.host}/team/anon`, layout.config, async () =>
        createReadStream(blobPath(layout.config)),
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "PERMISSION_DENIED" });
    await client.close();
  });

  it("keeps a wrong password out of the error", async () => {
    const wrong = "not-The-Password-42";
    const client = createRegistryClient({ auth: { get: async () => ({ username: USER, password: wrong }) } });
    const err = (await client.resolve(`${registry.host}/team/base:v1`).catch((e: unknown) => e)) as Error & {
      hint?: string;
    };
    expect(err).toMatchObject({ code: "PERMISSION_DENIED" });
    expect(err.message).toContain("incorrect username or password");
    const text = `${err.message}\n${err.hint}\n${JSON.stringify(err)}\n${String(err.cause)}`;
    expect(text).not.toContain(wrong);
    expect(text).not.toContain(Buffer.from(`${USER}:${wrong}`).toString("base64"));
    await client.close();
  });
});
