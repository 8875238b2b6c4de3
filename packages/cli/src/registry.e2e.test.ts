import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
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
import { makeTestPki } from "../../registry/src/test-helpers/pki.test-helpers.js";
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

  it("kiln login, then --push to a TLS registry trusted through kiln.toml's ca", async () => {
    await mkdir(join(tmp.path, "pki"));
    const pki = await makeTestPki(join(tmp.path, "pki"));
    const tls = await startRegistry({
      tls: { cert: pki.serverCert, key: pki.serverKey },
      htpasswd: { [CREDS.user]: CREDS.password },
    });
    try {
      const dockerConfig = join(tmp.path, "docker-tls");
      const loginEnv = { DOCKER_CONFIG: dockerConfig };
      await mkdir(dockerConfig);
      const login = await kiln(["login", tls.host, "-u", CREDS.user, "-p", CREDS.password], {
        env: loginEnv,
      });
      expect(login.code, login.stderr).toBe(0);
      expect(login.stderr).not.toContain(CREDS.password);
      expect(JSON.parse(await readFile(join(dockerConfig, "config.json"), "utf8")).auths[tls.host].auth).toBe(
        Buffer.from(`${CREDS.user}:${CREDS.password}`).toString("base64"),
      );
      const config = join(tmp.path, "kiln.toml");
      await writeFile(config, `[registry."${tls.host}"]\nca = ["${pki.caCert}"]\n`);
      const dir = await context("tls", "FROM scratch\nCOPY Dockerfile /Dockerfile\n");
      const meta = join(tmp.path, "meta-tls.json");
      const tag = `${tls.host}/tls-app:1`;
      const r = await kiln(
        ["--config", config, "build", "--root", root, "-t", tag, "--push", "--metadata-file", meta, dir],
        { env: loginEnv },
      );
      expect(r.code, r.stderr).toBe(0);
      const certDir = join(tmp.path, "certs");
      await mkdir(certDir, { recursive: true });
      await copyFile(pki.caCert, join(certDir, "ca.crt"));
      const reported = JSON.parse(await readFile(meta, "utf8"))["containerimage.digest"];
      expect(await skopeoDigest(tag, { certDir, creds: `${CREDS.user}:${CREDS.password}` })).toBe(reported);
    } finally {
      await tls.stop();
    }
  }, 120_000);
});
