import { access } from "node:fs/promises";
import { join } from "node:path";
import { hostPlatform, isKilnError } from "@kiln/core";
import { type BusyboxLayout, buildBusyboxLayout, makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { skopeoPush } from "../../registry/src/test-helpers/fixtures.test-helpers.js";
import {
  type RegistryServer,
  startRegistry,
} from "../../registry/src/test-helpers/registry-server.test-helpers.js";
import { createBuilder } from "./builder.js";

let tmp: TempDir;
let registry: RegistryServer;
let layout: BusyboxLayout;

beforeAll(async () => {
  tmp = await makeTempDir("builder-lookup");
  layout = await buildBusyboxLayout(join(tmp.path, "busybox"), { tag: "latest" });
  registry = await startRegistry();
  await skopeoPush(layout.dir, "latest", `${registry.host}/tools/busybox:1`);
}, 60_000);
afterAll(async () => {
  await registry?.stop();
  await tmp?.cleanup();
});

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe("Builder.resolveImageConfig (lookup only, for --call=check|outline)", () => {
  it("reads a registry image's config without downloading its layers", async () => {
    const root = join(tmp.path, "store");
    const builder = createBuilder({ root });
    try {
      const config = await builder.resolveImageConfig(
        `docker-image://${registry.host}/tools/busybox:1`,
        hostPlatform(),
      );
      expect(config.rootfs.diff_ids).toEqual([layout.diffId]);
      expect(config.config?.Env?.some((e) => e.startsWith("PATH="))).toBe(true);
      const blob = (digest: string) => join(root, "content", "blobs", "sha256", digest.slice(7));
      expect(await exists(blob(layout.config.digest))).toBe(true);
      expect(await exists(blob(layout.layer.digest))).toBe(false);
      // A plain name works too (FROM as written).
      const again = await builder.resolveImageConfig(`${registry.host}/tools/busybox:1`, hostPlatform());
      expect(again.rootfs.diff_ids).toEqual([layout.diffId]);
    } finally {
      await builder.close();
    }
  }, 60_000);

  it("reads an OCI layout's config, and names a missing image", async () => {
    const builder = createBuilder({ root: join(tmp.path, "store-layout") });
    try {
      const config = await builder.resolveImageConfig(`oci-layout://${layout.dir}:latest`, hostPlatform());
      expect(config.rootfs.diff_ids).toEqual([layout.diffId]);
      const err = await builder
        .resolveImageConfig(`docker-image://${registry.host}/tools/nothere:1`, hostPlatform())
        .catch((e: unknown) => e);
      expect(isKilnError(err)).toBe(true);
      expect(String((err as Error).message)).toContain("nothere");
    } finally {
      await builder.close();
    }
  }, 60_000);
});
