import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { isKilnError, MediaType, sha256 } from "@kiln/core";
import {
  createDockerCredentialStore,
  createRegistryClient,
  type DockerCredentialStore,
} from "@kiln/registry";
import { blobStoreSuite, makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RegistryServer,
  startRegistry,
} from "../../registry/src/test-helpers/registry-server.test-helpers.js";
import { createRegistryBlobStore, registryCache, registryCacheModule } from "./index.js";

const run = promisify(execFile);
const USER = "cache-user";
const PASSWORD = "cache-Pa55word-secret";

let tmp: TempDir;
let open: RegistryServer;
let guarded: RegistryServer;
let auth: DockerCredentialStore;

beforeAll(async () => {
  tmp = await makeTempDir("cache-registry");
  [open, guarded] = await Promise.all([startRegistry(), startRegistry({ htpasswd: { [USER]: PASSWORD } })]);
  auth = createDockerCredentialStore({ configPath: join(tmp.path, "docker", "config.json") });
  await auth.login(guarded.host, USER, PASSWORD);
});

afterAll(async () => {
  await Promise.all([open?.stop(), guarded?.stop()]);
  await tmp?.cleanup();
});

const repo = () => `cache/t${randomBytes(5).toString("hex")}`;

/** A pointer a registry accepts as tag content: an (empty) OCI index carrying the label. */
const indexPointer = (label: string) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [],
      annotations: { "dev.kiln.test": label },
    }),
  );

const emptyAuth = { get: async () => undefined };

blobStoreSuite(
  async () => ({
    store: createRegistryBlobStore({ ref: `${open.host}/${repo()}:cache` }, { auth: emptyAuth }),
  }),
  { name: "registry BlobStore (docker-registry)", pointerData: indexPointer },
);
blobStoreSuite(
  async () => ({ store: registryCache({ ref: `${guarded.host}/${repo()}` }, { auth }).create() }),
  {
    name: "registry BlobStore with basic auth from a Docker config (docker-registry)",
    pointerData: indexPointer,
  },
);

// The client's chunked upload path (PATCH with Content-Range), which normally starts at 1 GiB.
blobStoreSuite(
  async () => {
    const client = createRegistryClient({
      auth: emptyAuth,
      upload: { chunkedAbove: 1024 * 1024, chunkSize: 512 * 1024 },
    });
    const store = createRegistryBlobStore({ ref: `${open.host}/${repo()}:cache` }, { client });
    return { store, cleanup: () => client.close() };
  },
  { name: "registry BlobStore with chunked uploads (docker-registry)", pointerData: indexPointer },
);

describe("registry cache store", () => {
  it("a pushed pointer is the tag's manifest: skopeo reads the same bytes; blobs are the repo's blobs", async () => {
    const name = repo();
    const backend = registryCacheModule.backend(
      registryCacheModule.parseAttrs({ ref: `${guarded.host}/${name}:buildcache`, mode: "max" }, {}),
    );
    expect(backend.options.tag).toBe("buildcache");
    const store = createRegistryBlobStore(backend.options, { auth });
    const config = Buffer.from('{"layers":[],"records":[]}');
    const layer = randomBytes(3000);
    const configDesc = {
      mediaType: "application/vnd.buildkit.cacheconfig.v0",
      digest: sha256(config),
      size: config.length,
    };
    const layerDesc = { mediaType: MediaType.OciLayerGzip, digest: sha256(layer), size: layer.length };
    await store.write(configDesc, Readable.from([config]));
    await store.write(layerDesc, Readable.from([layer]));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: configDesc,
        layers: [layerDesc],
      }),
    );
    expect(await store.writePointer("buildcache", manifest)).toBe(true);
    const back = await store.readPointer("buildcache");
    expect(back?.version).toBe(sha256(manifest));
    expect(Buffer.from(back?.data ?? []).equals(manifest)).toBe(true);
    // The tag's version (the manifest digest) also works as a pointer name.
    expect((await store.readPointer(sha256(manifest)))?.version).toBe(sha256(manifest));

    const { stdout } = await run(
      "skopeo",
      [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `--creds=${USER}:${PASSWORD}`,
        `docker://${guarded.host}/${name}:buildcache`,
      ],
      { encoding: "buffer" },
    );
    expect(Buffer.from(stdout).equals(manifest)).toBe(true);
    await store.close?.();
  });

  it("without credentials the guarded registry is PERMISSION_DENIED, and the password is never in messages", async () => {
    const store = createRegistryBlobStore({ ref: `${guarded.host}/${repo()}` }, { auth: emptyAuth });
    const err = await store.writePointer("latest", indexPointer("x")).catch((e: unknown) => e);
    expect(isKilnError(err, "PERMISSION_DENIED"), String(err)).toBe(true);
    const wrong = createRegistryBlobStore(
      { ref: `${guarded.host}/${repo()}` },
      { auth: { get: async () => ({ username: USER, password: "not-the-Pa55word-xyz" }) } },
    );
    const denied = await wrong.info(sha256("x")).catch((e: unknown) => e);
    expect(isKilnError(denied, "PERMISSION_DENIED"), String(denied)).toBe(true);
    expect(
      JSON.stringify({ m: (denied as Error).message, d: (denied as { details?: unknown }).details }),
    ).not.toContain("not-the-Pa55word-xyz");
    await Promise.all([store.close?.(), wrong.close?.()]);
  });

  it("refuses pointers that are not manifests and names that are not tags", async () => {
    const store = createRegistryBlobStore({ ref: `${open.host}/${repo()}` }, { auth: emptyAuth });
    const notJson = await store.writePointer("latest", Buffer.from("plain text")).catch((e: unknown) => e);
    expect(isKilnError(notJson, "INVALID_ARGUMENT")).toBe(true);
    const badName = await store.writePointer("no/slashes", indexPointer("x")).catch((e: unknown) => e);
    expect(isKilnError(badName, "INVALID_ARGUMENT")).toBe(true);
    await store.close?.();
  });

  it("a registry that is gone is UNAVAILABLE", async () => {
    const gone = await startRegistry();
    const host = gone.host;
    await gone.stop();
    const store = createRegistryBlobStore(
      { ref: `${host}/${repo()}` },
      { auth: emptyAuth, client: undefined },
    );
    const started = Date.now();
    const err = await store.readPointer("latest").catch((e: unknown) => e);
    expect(isKilnError(err, "UNAVAILABLE"), String(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(30_000);
    await store.close?.();
  }, 60_000);
});
