import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { INLINE_CACHE_CONFIG_KEY } from "@kiln/cache";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RegistryServer,
  startRegistry,
} from "../../registry/src/test-helpers/registry-server.test-helpers.js";
import { busybox, events, kiln, run } from "./e2e-helpers.test-helpers.js";

const DOCKERFILE = `FROM busybox AS build
RUN echo built > /built.txt

FROM busybox
COPY --from=build /built.txt /app/built.txt
RUN wc -c /app/built.txt > /app/size.txt
`;

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

      // A wiped store imports through the registry cache backend: `--cache-from <ref>` = type=registry.
      const pulled = await kiln([
        "build",
        "--root",
        join(tmp.path, `store-pull-${tag}`),
        "--progress",
        "rawjson",
        ...contextFlags,
        "--cache-from",
        ref,
        ctx,
      ]);
      expect(pulled.code, pulled.stderr).toBe(0);
      const steps = events(pulled.stderr).filter(
        (e) => e.name?.startsWith("[") && !e.name.startsWith("[internal]"),
      );
      expect(steps.length).toBeGreaterThanOrEqual(4);
      expect(steps.filter((e) => e.type !== "vertex.cached")).toEqual([]);
    },
    180_000,
  );
});
