import { chmod, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../../testkit/src/index.js";
import { createDockerCredentialStore, normalizeAuthKey } from "./credentials.js";

let tmp: TempDir;

beforeAll(async () => {
  tmp = await makeTempDir("registry-creds");
});
afterAll(async () => {
  await tmp?.cleanup();
});

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("createDockerCredentialStore", () => {
  it("reads auths: base64 auth, username/password, identity tokens; Docker Hub's URL key", async () => {
    const configPath = join(tmp.path, "read", "config.json");
    await writeFile(configPath, "").catch(() => undefined);
    const { mkdir } = await import("node:fs/promises");
    await mkdir(join(tmp.path, "read"), { recursive: true });
    await writeFile(
      configPath,
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: b64("hubuser:hub:pass") },
          "reg.example:5000": { username: "u", password: "p" },
          "https://ghcr.io": { identitytoken: "refresh-me" },
        },
      }),
    );
    const store = createDockerCredentialStore({ configPath });
    expect(await store.get("docker.io")).toEqual({ username: "hubuser", password: "hub:pass" });
    expect(await store.get("registry-1.docker.io")).toEqual({ username: "hubuser", password: "hub:pass" });
    expect(await store.get("reg.example:5000")).toEqual({ username: "u", password: "p" });
    expect(await store.get("ghcr.io")).toEqual({ username: "<token>", password: "refresh-me" });
    expect(await store.get("other.example")).toBeUndefined();
    expect(normalizeAuthKey("http://h:1/v1/")).toBe("h:1");
  });

  it("defaults to $DOCKER_CONFIG/config.json", () => {
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = join(tmp.path, "env");
    try {
      expect(createDockerCredentialStore().configPath).toBe(join(tmp.path, "env", "config.json"));
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
  });

  it("login writes base64 auths atomically (0600, other keys kept); logout removes them", async () => {
    const dir = join(tmp.path, "login");
    const configPath = join(dir, "config.json");
    const store = createDockerCredentialStore({ configPath });
    await store.login("127.0.0.1:5000", "alice", "pw1");
    await store.login("docker.io", "bob", "pw2");
    const written = JSON.parse(await readFile(configPath, "utf8"));
    expect(written.auths).toEqual({
      "127.0.0.1:5000": { auth: b64("alice:pw1") },
      "https://index.docker.io/v1/": { auth: b64("bob:pw2") },
    });
    expect((await stat(configPath)).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    // Other settings in the file survive.
    await writeFile(configPath, JSON.stringify({ ...written, detachKeys: "ctrl-x" }));
    expect(await store.logout("127.0.0.1:5000")).toBe(true);
    expect(await store.logout("127.0.0.1:5000")).toBe(false);
    const after = JSON.parse(await readFile(configPath, "utf8"));
    expect(after.detachKeys).toBe("ctrl-x");
    expect(Object.keys(after.auths)).toEqual(["https://index.docker.io/v1/"]);
    expect(await store.get("docker.io")).toEqual({ username: "bob", password: "pw2" });
  });

  it("uses credHelpers / credsStore through docker-credential-<name> programs", async () => {
    const bin = join(tmp.path, "bin");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(bin, { recursive: true });
    const log = join(tmp.path, "helper.log");
    // A helper that knows one server, and records what it was asked (never the secret).
    await writeFile(
      join(bin, "docker-credential-kilntest"),
      `#!/bin/sh
read server
echo "$1 $server" >> ${log}
case "$1" in
  get) if [ "$server" = "helped.example:5000" ]; then echo '{"ServerURL":"x","Username":"helper-user","Secret":"helper-secret"}'; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store|erase) exit 0 ;;
esac
`,
    );
    await chmod(join(bin, "docker-credential-kilntest"), 0o755);
    const configPath = join(tmp.path, "helpers", "config.json");
    await mkdir(join(tmp.path, "helpers"), { recursive: true });
    await writeFile(
      configPath,
      JSON.stringify({ credHelpers: { "helped.example:5000": "kilntest" }, credsStore: "kilntest" }),
    );
    const store = createDockerCredentialStore({ configPath, helperPath: `${bin}:${process.env.PATH}` });
    expect(await store.get("helped.example:5000")).toEqual({
      username: "helper-user",
      password: "helper-secret",
    });
    expect(await store.get("docker.io")).toBeUndefined();
    await store.login("helped.example:5000", "u", "p");
    const calls = (await readFile(log, "utf8")).trim().split("\n");
    expect(calls[0]).toBe("get helped.example:5000");
    expect(calls[1]).toBe("get https://index.docker.io/v1/");
    expect(calls[2]).toMatch(/^store /);

    const missing = createDockerCredentialStore({ configPath, helperPath: "/nonexistent" });
    await expect(missing.get("helped.example:5000")).rejects.toMatchObject({ code: "FAILED_PRECONDITION" });
  });
});
