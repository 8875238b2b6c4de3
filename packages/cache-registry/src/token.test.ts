import { randomBytes } from "node:crypto";
import { MediaType } from "@kiln/core";
import { blobStoreSuite, makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTestPki } from "../../registry/src/test-helpers/pki.test-helpers.js";
import {
  type RegistryServer,
  startRegistry,
} from "../../registry/src/test-helpers/registry-server.test-helpers.js";
import {
  startTokenServer,
  type TokenServer,
} from "../../registry/src/test-helpers/token-server.test-helpers.js";
import { createRegistryBlobStore } from "./store.js";

const USER = "cache-builder";
const PASSWORD = "t0ken-Cache-Pass";
const creds = { get: async () => ({ username: USER, password: PASSWORD }) };

let tmp: TempDir;
let tokens: TokenServer;
let registry: RegistryServer;

beforeAll(async () => {
  tmp = await makeTempDir("cache-registry-token");
  const pki = await makeTestPki(tmp.path);
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

const indexPointer = (label: string) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [],
      annotations: { l: label },
    }),
  );

const repo = () => `cache/t${randomBytes(5).toString("hex")}`;

blobStoreSuite(
  async () => ({ store: createRegistryBlobStore({ ref: `${registry.host}/${repo()}` }, { auth: creds }) }),
  {
    name: "registry BlobStore with bearer tokens (docker-registry + token server)",
    pointerData: indexPointer,
  },
);

describe("registry cache with bearer tokens", () => {
  it("anonymous pull-only tokens can read pointers but not write them", async () => {
    const name = repo();
    const writer = createRegistryBlobStore({ ref: `${registry.host}/${name}` }, { auth: creds });
    await writer.writePointer("latest", indexPointer("one"));
    const reader = createRegistryBlobStore(
      { ref: `${registry.host}/${name}` },
      { auth: { get: async () => undefined } },
    );
    expect(Buffer.from((await reader.readPointer("latest"))?.data ?? []).equals(indexPointer("one"))).toBe(
      true,
    );
    const err = await reader.writePointer("latest", indexPointer("two")).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("PERMISSION_DENIED");
    expect(
      tokens.requests.some((r) => r.user === USER && r.scopes.some((s) => s.endsWith(":pull,push"))),
    ).toBe(true);
    await Promise.all([writer.close?.(), reader.close?.()]);
  });
});
