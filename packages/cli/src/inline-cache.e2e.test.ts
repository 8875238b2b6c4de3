import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createBuilder } from "@kiln/builder";
import { INLINE_CACHE_CONFIG_KEY } from "@kiln/cache";
import { type BlobStore, KilnError } from "@kiln/core";
import { createRegistryClient } from "@kiln/registry";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RegistryServer,
  startRegistry,
} from "../../registry/src/test-helpers/registry-server.test-helpers.js";
import { busybox, kiln, run } from "./e2e-helpers.test-helpers.js";

const DOCKERFILE = `FROM busybox AS build
RUN echo built > /built.txt

FROM busybox
COPY --from=build /built.txt /app/built.txt
RUN wc -c /app/built.txt > /app/size.txt
`;

/**
 * Read-only BlobStore over the registry client, standing in for `@kiln/cache-registry` (written
 * separately): the pointer is the tag's manifest, blobs are the repository's blobs.
 */
function registryReader(repository: string): BlobStore {
  const client = createRegistryClient({});
  const readOnly = async (): Promise<never> => {
    throw new KilnError("FAILED_PRECONDITION", "read-only test store");
  };
  return {
    type: "registry",
    capabilities: { rangeReads: false, touch: false, conditionalPointers: false },
    info: async (digest, o) => ((await client.blobExists(repository, digest, o)) ? { size: 0 } : undefined),
    read: (desc, o) => client.fetchBlob(repository, desc, o),
    async readPointer(name, o) {
      const m = await client.fetchManifestBytes(`${repository}:${name}`, o);
      return { data: m.bytes, version: m.digest };
    },
    write: readOnly,
    writePointer: readOnly,
    close: () => client.close(),
  };
}

describe("inline cache: in the pushed image's config, imported from the registry", () => {
  let tmp: TempDir;
  let registry: RegistryServer;
  let ctx: string;
  let contextFlags: string[];

  beforeAll(async () => {
    tmp = await makeTempDir("inline-cache");
    registry = await startRegistry();
    ctx = join(tmp.path, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), DOCKERFILE);
    contextFlags = await busybox(tmp.path);
  }, 120_000);
  afterAll(async () => {
    await registry?.stop();
    await tmp?.cleanup();
  });

  it.each([
    ["--cache-to type=inline", ["--cache-to", "type=inline"]],
    ["the BUILDKIT_INLINE_CACHE=1 build-arg", ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]],
  ])(
    "%s: every step of a fresh store is CACHED",
    async (_label, flags) => {
      const tag = `app-${flags[0]?.replace(/-/g, "")}`;
      const ref = `${registry.host}/${tag}:1`;
      const pushed = await kiln([
        "build",
        "--root",
        join(tmp.path, `store-push-${tag}`),
        ...contextFlags,
        ...flags,
        "-t",
        ref,
        "--push",
        ctx,
      ]);
      expect(pushed.code, pushed.stderr).toBe(0);
      const inspect = await run("skopeo", [
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        `docker://${ref}`,
      ]);
      expect(inspect.code, inspect.stderr).toBe(0);
      const config = JSON.parse(inspect.stdout);
      const records = JSON.parse(Buffer.from(config[INLINE_CACHE_CONFIG_KEY], "base64").toString("utf8"));
      expect(Array.isArray(records)).toBe(true);
      // Results point at image layers: the top record holds the image's last layer.
      const layerIndexes = records.flatMap((r: { layers?: { layer: number }[] }) =>
        (r.layers ?? []).map((l) => l.layer),
      );
      expect(Math.max(...layerIndexes)).toBe(config.rootfs.diff_ids.length - 1);

      const store = registryReader(`${registry.host}/${tag}`);
      const events: { type: string; name?: string }[] = [];
      const builder = createBuilder({ root: join(tmp.path, `store-pull-${tag}`) });
      try {
        await builder.build({
          contextDir: ctx,
          buildContexts: { busybox: contextFlags[1]?.replace(/^busybox=/, "") ?? "" },
          cacheFrom: [{ type: "registry", attrs: { ref }, store }],
          progress: { write: (e) => events.push(e) },
        });
      } finally {
        await builder.close();
        await store.close?.();
      }
      const steps = events.filter((e) => e.name?.startsWith("[") && !e.name.startsWith("[internal]"));
      expect(steps.length).toBeGreaterThanOrEqual(4);
      expect(steps.filter((e) => e.type !== "vertex.cached")).toEqual([]);
    },
    180_000,
  );
});
