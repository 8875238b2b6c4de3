import { join } from "node:path";
import { decodeOp, git as gitState, marshal } from "@kiln/llb";
import {
  createGitFixture,
  type GitFixture,
  type GitHttpServer,
  makeTempDir,
  startGitDaemon,
  startGitHttpServer,
  type TempDir,
} from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalStore } from "../store.js";
import { filesOf, openTestEnv, runOp, sourceFor } from "./remote.test-helpers.js";
import type { OpEnvironment } from "./types.js";

let tmp: TempDir;
let server: GitHttpServer;
let repo: GitFixture;
let store: LocalStore;
let env: OpEnvironment;
let first: string;
let second: string;

/** The source op the LLB `git()` builder makes for `url`, as the builder receives it. */
function gitOp(url: string, opts: Parameters<typeof gitState>[1] = {}, opEnv?: OpEnvironment) {
  const def = marshal(gitState(url, opts), { platform: { os: "linux", architecture: "amd64" } });
  const op = decodeOp(def.def[0] as Uint8Array);
  const src = op.op?.case === "source" ? op.op.value : undefined;
  return sourceFor(opEnv ?? env, src?.identifier ?? "", src?.attrs ?? {});
}

beforeAll(async () => {
  tmp = await makeTempDir("git-source");
  const root = join(tmp.path, "repos");
  repo = await createGitFixture(root, "repo.git");
  first = await repo.commit({ "README.md": "v1\n", "docs/guide.md": "guide v1\n", "docs/sub/x.txt": "x\n" });
  await repo.tag("v1");
  await repo.tag("v1-annotated", "release 1");
  second = await repo.commit({ "README.md": "v2\n" });
  server = await startGitHttpServer(root);
  ({ store, env } = await openTestEnv(join(tmp.path, "store")));
}, 60_000);
afterAll(async () => {
  await store?.close();
  await server?.close();
  await tmp?.cleanup();
});

describe("git source", () => {
  it("checks out the default branch without .git", async () => {
    const files = await filesOf(await runOp(gitOp(`${server.url}/repo.git`)));
    expect(Object.keys(files).sort()).toEqual(["README.md", "docs/guide.md", "docs/sub/x.txt"]);
    expect(files["README.md"]).toMatchObject({ content: "v2\n", mode: 0o644 });
  }, 30_000);

  it("checks out a tag (lightweight or annotated) and a subdirectory", async () => {
    const tagged = await filesOf(await runOp(gitOp(`${server.url}/repo.git#v1`)));
    expect(tagged["README.md"]?.content).toBe("v1\n");
    const annotated = await filesOf(await runOp(gitOp(`${server.url}/repo.git#v1-annotated:docs`)));
    expect(Object.keys(annotated).sort()).toEqual(["guide.md", "sub/x.txt"]);
    const byCommit = await filesOf(await runOp(gitOp(`${server.url}/repo.git#${first}`)));
    expect(byCommit["README.md"]?.content).toBe("v1\n");
  }, 30_000);

  it("keys on the commit the ref resolves to: a moved branch gets a new key", async () => {
    const key = async (ref: string) => (await gitOp(`${server.url}/repo.git#${ref}`).cacheMap({})).digest;
    const main = await key("main");
    expect(await key("main")).toBe(main);
    expect(await key(second)).toBe(main);
    // An annotated tag keys on the commit it points at (without .git), like BuildKit.
    expect(await key("v1-annotated")).toBe(await key(first));
    await repo.commit({ "README.md": "v3\n" });
    const moved = await key("main");
    expect(moved).not.toBe(main);
    const files = await filesOf(await runOp(gitOp(`${server.url}/repo.git#main`)));
    expect(files["README.md"]?.content).toBe("v3\n");
    await repo.git("reset", "-q", "--hard", second);
  }, 30_000);

  it("keeps a .git directory with --keep-git-dir, with the remote's credentials removed", async () => {
    const url = server.url.replace("http://", "http://user:s3cret@");
    const ref = await runOp(gitOp(`${url}/repo.git#v1`, { keepGitDir: true }));
    const files = await filesOf(ref);
    expect(files["README.md"]?.content).toBe("v1\n");
    expect(files[".git/HEAD"]?.content).toBe(`${first}\n`);
    expect(files[".git/config"]?.content).toContain("http://xxxxx@127.0.0.1");
    expect(JSON.stringify(files)).not.toContain("s3cret");
  }, 30_000);

  it("verifies --checksum against the resolved commit (DATA_LOSS on mismatch)", async () => {
    // Like BuildKit, adding a checksum does not change the key: a cached checkout stays cached.
    const plain = await gitOp(`${server.url}/repo.git#v1`).cacheMap({});
    const pinned = await gitOp(`${server.url}/repo.git#v1`, { checksum: first }).cacheMap({});
    expect(pinned.digest).toBe(plain.digest);
    await expect(
      gitOp(`${server.url}/repo.git#v1`, { checksum: first.slice(0, 10) }).cacheMap({}),
    ).resolves.toBeDefined();
    await expect(
      gitOp(`${server.url}/repo.git#v1`, { checksum: second.slice(0, 10) }).cacheMap({}),
    ).rejects.toMatchObject({
      code: "DATA_LOSS",
      message: expect.stringContaining(`expected checksum to match ${second.slice(0, 10)}, got ${first}`),
    });
  }, 30_000);

  it("a missing ref is NOT_FOUND; a missing subdir is NOT_FOUND", async () => {
    await expect(gitOp(`${server.url}/repo.git#nope`).cacheMap({})).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringContaining("does not contain ref nope"),
    });
    await expect(runOp(gitOp(`${server.url}/repo.git#main:missing`))).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  }, 30_000);

  it("fetches a commit that no fetched ref points at, into a fresh store", async () => {
    const fresh = await openTestEnv(join(tmp.path, "store-fresh"));
    try {
      const files = await filesOf(await runOp(gitOp(`${server.url}/repo.git#${first}`, {}, fresh.env)));
      expect(files["README.md"]?.content).toBe("v1\n");
    } finally {
      await fresh.store.close();
    }
  }, 30_000);

  it("checks out a SHA-256 repository, by branch and by commit", async () => {
    const sha256Repo = await createGitFixture(join(tmp.path, "repos"), "sha256.git", {
      objectFormat: "sha256",
    });
    const commit = await sha256Repo.commit({ "f.txt": "sha256 repo\n" });
    expect(commit).toMatch(/^[a-f0-9]{64}$/);
    for (const ref of ["main", commit]) {
      const files = await filesOf(await runOp(gitOp(`${server.url}/sha256.git#${ref}`)));
      expect(files["f.txt"]?.content).toBe("sha256 repo\n");
    }
    const kept = await filesOf(await runOp(gitOp(`${server.url}/sha256.git#main`, { keepGitDir: true })));
    expect(kept[".git/HEAD"]?.content).toBe(`${commit}\n`);
  }, 30_000);

  it("checks out submodules (recursively fetched over the same loopback server) unless skipped", async () => {
    const reposRoot = join(tmp.path, "repos");
    const sub = await createGitFixture(reposRoot, "sub.git");
    await sub.commit({ "lib.txt": "from the submodule\n" });
    const outer = await createGitFixture(reposRoot, "outer.git");
    await outer.commit({ "main.txt": "outer\n" });
    await outer.git(
      "-c",
      "protocol.file.allow=always",
      "submodule",
      "add",
      "-q",
      `${server.url}/sub.git`,
      "vendor/sub",
    );
    await outer.commit({}, "add submodule");
    const files = await filesOf(await runOp(gitOp(`${server.url}/outer.git`)));
    expect(files["vendor/sub/lib.txt"]?.content).toBe("from the submodule\n");
    expect(Object.keys(files).filter((f) => f.includes(".git") && f !== ".gitmodules")).toEqual([]);
    const skipped = await filesOf(await runOp(gitOp(`${server.url}/outer.git`, { skipSubmodules: true })));
    expect(skipped["vendor/sub/lib.txt"]).toBeUndefined();
    const kept = await filesOf(await runOp(gitOp(`${server.url}/outer.git`, { keepGitDir: true })));
    expect(kept["vendor/sub/lib.txt"]?.content).toBe("from the submodule\n");
  }, 60_000);

  it("mtime=commit sets every mtime to the commit time (and changes the key)", async () => {
    const when = Number((await repo.git("log", "-1", "--format=%ct", first)).trim());
    const op = gitOp(`${server.url}/repo.git#v1`, { mtime: "commit" });
    expect((await op.cacheMap({})).digest).not.toBe(
      (await gitOp(`${server.url}/repo.git#v1`).cacheMap({})).digest,
    );
    const files = await filesOf(await runOp(op));
    expect(new Set(Object.values(files).map((f) => f.mtime))).toEqual(new Set([when]));
  }, 30_000);

  it("fetches over the git:// protocol (git daemon on loopback)", async () => {
    const daemon = await startGitDaemon(join(tmp.path, "repos"));
    try {
      const files = await filesOf(await runOp(gitOp(`${daemon.url}/repo.git#v1:docs`)));
      expect(files["guide.md"]?.content).toBe("guide v1\n");
    } finally {
      await daemon.close();
    }
  }, 30_000);

  it("sends a GIT_AUTH_TOKEN secret as a Basic header scoped to the remote", async () => {
    const secretEnv: OpEnvironment = {
      ...env,
      secret: async (id) => (id === "GIT_AUTH_TOKEN" ? Buffer.from("tok") : undefined),
    };
    const before = server.requests.length;
    const files = await filesOf(await runOp(gitOp(`${server.url}/repo.git#v1`, {}, secretEnv)));
    const sent = server.requests.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    expect(
      sent.every((r) => r.authorization === `basic ${Buffer.from("x-access-token:tok").toString("base64")}`),
    ).toBe(true);
    expect(files["README.md"]?.content).toBe("v1\n");
  }, 30_000);

  it("prefers a host-scoped GIT_AUTH_HEADER.<host> secret, sent as it is", async () => {
    const host = new URL(server.url).host;
    const secretEnv: OpEnvironment = {
      ...env,
      secret: async (id) =>
        id === `GIT_AUTH_HEADER.${host}`
          ? Buffer.from("Bearer hdr")
          : id === "GIT_AUTH_TOKEN"
            ? Buffer.from("t")
            : undefined,
    };
    const before = server.requests.length;
    await gitOp(`${server.url}/repo.git#v1`, {}, secretEnv).cacheMap({});
    const sent = server.requests.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((r) => r.authorization === "Bearer hdr")).toBe(true);
  }, 30_000);
});
