import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hostPlatform } from "@kiln/core";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildMultiArchLayout,
  skopeoDigest,
  skopeoInspect,
  skopeoPush,
} from "../../registry/src/test-helpers/fixtures.test-helpers.js";
import {
  type RegistryServer,
  startRegistry,
} from "../../registry/src/test-helpers/registry-server.test-helpers.js";
import { events, kiln } from "./e2e-helpers.test-helpers.js";

const CREDS = { user: "kiln", password: "s3cret-pass" };
let tmp: TempDir;
let registry: RegistryServer;
let env: NodeJS.ProcessEnv;
let root: string;

beforeAll(async () => {
  tmp = await makeTempDir("cli-registry");
  root = join(tmp.path, "store");
  registry = await startRegistry({ htpasswd: { [CREDS.user]: CREDS.password } });
  const layout = join(tmp.path, "layout");
  await buildMultiArchLayout(layout);
  await skopeoPush(layout, "multi", `${registry.host}/busybox:latest`, {
    creds: `${CREDS.user}:${CREDS.password}`,
  });
  // kiln reads credentials the way docker does: $DOCKER_CONFIG/config.json.
  const dockerConfig = join(tmp.path, "docker");
  await mkdir(dockerConfig);
  const auth = Buffer.from(`${CREDS.user}:${CREDS.password}`).toString("base64");
  await writeFile(
    join(dockerConfig, "config.json"),
    JSON.stringify({ auths: { [registry.host]: { auth } } }),
  );
  env = { DOCKER_CONFIG: dockerConfig };
}, 120_000);
afterAll(async () => {
  await registry?.stop();
  await tmp?.cleanup();
});

async function context(name: string, dockerfile: string): Promise<string> {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), dockerfile);
  return dir;
}

describe("registries: FROM pulls, --push pushes (real distribution server with basic auth)", () => {
  it("builds FROM a multi-arch index (picks this machine's platform) and pushes what skopeo then sees", async () => {
    const dir = await context("push", `FROM ${registry.host}/busybox\nRUN echo pushed > /pushed.txt\n`);
    const meta = join(tmp.path, "meta.json");
    const tag = `${registry.host}/app:1`;
    const r = await kiln(
      ["build", "--root", root, "--progress", "plain", "-t", tag, "--push", "--metadata-file", meta, dir],
      {
        env,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain(CREDS.password);
    const reported = JSON.parse(await readFile(meta, "utf8"))["containerimage.digest"];
    const creds = { creds: `${CREDS.user}:${CREDS.password}` };
    expect(await skopeoDigest(tag, creds)).toBe(reported);
    expect((await skopeoInspect(tag, creds)).Architecture).toBe(hostPlatform().architecture);

    // Pushing again: still the same image, nothing breaks (no blob is uploaded twice: see @kiln/registry).
    const again = await kiln(["build", "--root", root, "-t", tag, "--push", dir], { env });
    expect(again.code, again.stderr).toBe(0);
  }, 120_000);

  it("a FROM pinned by digest and already in the store builds with the registry gone", async () => {
    const digest = await skopeoDigest(`${registry.host}/busybox:latest`, {
      creds: `${CREDS.user}:${CREDS.password}`,
    });
    const dir = await context(
      "pinned",
      `FROM ${registry.host}/busybox@${digest}\nCOPY Dockerfile /Dockerfile\n`,
    );
    const first = await kiln(["build", "--root", root, dir], { env });
    expect(first.code, first.stderr).toBe(0);
    await registry.stop();
    const offline = await kiln(["build", "--root", root, "--progress", "rawjson", dir], { env });
    expect(offline.code, offline.stderr).toBe(0);
    expect(events(offline.stderr).some((e) => e.type === "vertex.cached" && e.name?.includes("FROM"))).toBe(
      true,
    );
  }, 120_000);
});
