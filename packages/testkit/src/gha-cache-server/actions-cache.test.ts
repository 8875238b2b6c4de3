import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { restoreCache, saveCache } from "@actions/cache";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir } from "../temp-dir.js";
import { readTree, writeTree } from "../tree.js";
import { GHA_SCOPE_READ, GHA_SCOPE_WRITE, type GhaCacheServer, startGhaCacheServer } from "./index.js";

// GitHub's own client (@actions/cache 6.3.0: tar + zstd, Twirp or REST, Azure SDK upload) must round-trip
// a directory against the server; that is what makes the server a faithful stand-in for the service.
// The client reads its configuration from process.env on every call, so each test sets it first.

let server: GhaCacheServer;
let tmp: TempDir;

function useEnv(version: 1 | 2, token = server.token) {
  for (const name of ["ACTIONS_CACHE_SERVICE_V2", "GITHUB_SERVER_URL", "ACTIONS_CACHE_MODE"])
    delete process.env[name];
  Object.assign(process.env, server.env(version), {
    ACTIONS_RUNTIME_TOKEN: token,
    RUNNER_TEMP: join(tmp.path, "runner-temp"),
    GITHUB_WORKSPACE: join(tmp.path, "workspace"),
  });
}

const savedCwd = process.cwd();
const savedEnv = { ...process.env };

beforeAll(async () => {
  server = await startGhaCacheServer();
  tmp = await makeTempDir("gha-actions-cache");
  process.chdir(tmp.path);
});
afterAll(async () => {
  // A worker may run other files afterwards: leave the process as we found it.
  process.chdir(savedCwd);
  for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
  Object.assign(process.env, savedEnv);
  await server.close();
  await tmp.cleanup();
});

describe.each([1, 2] as const)("@actions/cache 6.3.0 against the server, API v%i", (version) => {
  const dir = `dir-v${version}`;
  const workspace = () => join(tmp.path, "workspace");
  const key = `deps-v${version}-linux-abc`;

  it("saves a directory once, restores it by key, by restore-key prefix, and misses on other paths", async () => {
    useEnv(version);
    const bin = randomBytes(512 * 1024).toString("base64");
    await writeTree(workspace(), {
      [`${dir}/a.txt`]: "alpha",
      [`${dir}/nested/b.bin`]: bin,
      [`${dir}/nested/link`]: { type: "symlink", target: "../a.txt" },
    });
    const before = await readTree(join(workspace(), dir));
    process.chdir(workspace());

    const id = await saveCache([dir], key);
    expect(id).toBeGreaterThan(0);
    // Entries are immutable: the same key and version again is refused (the client reports -1).
    expect(await saveCache([dir], key)).toBe(-1);

    await rm(join(workspace(), dir), { recursive: true });
    expect(await restoreCache([dir], key)).toBe(key);
    expect(await readTree(join(workspace(), dir))).toEqual(before);

    expect(await restoreCache([dir], "no-such-key", [`deps-v${version}-linux-`])).toBe(key);
    expect(await restoreCache([dir], "no-such-key", ["other-"])).toBeUndefined();
    // The version hashes the paths, so another path list is a miss even with the same key.
    expect(await restoreCache([`${dir}/nested`], key)).toBeUndefined();
    expect(await restoreCache([dir], key, [], { lookupOnly: true })).toBe(key);

    const entries = server.entries().filter((e) => e.key === key);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ finalized: true, scope: "refs/heads/main" });
  }, 60_000);

  it("keeps scopes apart: a pull request reads main's entry but writes its own", async () => {
    const prToken = server.issueToken([
      { scope: `refs/pull/${version}/merge`, permission: GHA_SCOPE_READ | GHA_SCOPE_WRITE },
      { scope: "refs/heads/main", permission: GHA_SCOPE_READ },
    ]);
    useEnv(version, prToken);
    process.chdir(workspace());
    await rm(join(workspace(), dir), { recursive: true, force: true });
    expect(await restoreCache([dir], key)).toBe(key);
    // Same key and version, but another scope: a new entry, not a conflict.
    expect(await saveCache([dir], key)).toBeGreaterThan(0);
    const scopes = server
      .entries()
      .filter((e) => e.key === key)
      .map((e) => e.scope);
    expect(scopes.sort()).toEqual(["refs/heads/main", `refs/pull/${version}/merge`]);
  }, 60_000);

  it("rejects a token it did not issue", async () => {
    useEnv(version, "not-a-token");
    process.chdir(workspace());
    expect(await saveCache([dir], `${key}-unauthorized`)).toBe(-1);
    expect(await restoreCache([dir], key)).toBeUndefined();
  }, 60_000);
});

describe("@actions/cache 6.3.0 against the server: Azure SDK block upload", () => {
  it("an archive over 128 MiB goes up as Put Block + Put Block List and restores intact", async () => {
    useEnv(2);
    const dir = "big";
    const workspace = join(tmp.path, "workspace");
    // Random bytes do not compress, so the archive stays above the SDK's 128 MiB single-shot limit.
    const data = randomBytes(130 * 1024 * 1024);
    await writeTree(workspace, { [`${dir}/blob.bin`]: { type: "file", content: data } });
    process.chdir(workspace);
    const before = { ...server.stats.operations };
    expect(await saveCache([dir], "big-v2")).toBeGreaterThan(0);
    const after = server.stats.operations;
    expect((after["blob:PutBlock"] ?? 0) - (before["blob:PutBlock"] ?? 0)).toBeGreaterThanOrEqual(2);
    expect((after["blob:PutBlockList"] ?? 0) - (before["blob:PutBlockList"] ?? 0)).toBe(1);
    await rm(join(workspace, dir), { recursive: true });
    expect(await restoreCache([dir], "big-v2")).toBe("big-v2");
    const restored = await readFile(join(workspace, dir, "blob.bin"));
    expect(restored.equals(data)).toBe(true);
    await rm(join(workspace, dir), { recursive: true });
  }, 120_000);
});
