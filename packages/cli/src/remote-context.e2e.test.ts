import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  createGitFixture,
  type GitFixture,
  type GitHttpServer,
  type HttpFileServer,
  makeTempDir,
  startGitHttpServer,
  startHttpFileServer,
  type TempDir,
} from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kiln, run } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
let root: string;
let files: HttpFileServer;
let gitServer: GitHttpServer;
let repo: GitFixture;
let n = 0;

/** `kiln build … <context>` into a fresh local output directory; returns the run and that directory. */
async function build(context: string, extra: string[] = [], input?: string | Uint8Array) {
  const out = join(tmp.path, `out-${n++}`);
  const r = await kiln(
    ["build", "--root", root, "--progress", "plain", "-o", `type=local,dest=${out}`, ...extra, context],
    input === undefined ? {} : { input },
  );
  return { ...r, out };
}

const listing = async (dir: string) => (await readdir(dir, { recursive: true })).sort();

/** A gzipped tar of `tree` (path → content). */
async function tarball(tree: Record<string, string>): Promise<Buffer> {
  const dir = join(tmp.path, `tree-${n++}`);
  for (const [path, content] of Object.entries(tree)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  const archive = `${dir}.tar.gz`;
  expect((await run("tar", ["-czf", archive, "-C", dir, "."])).code).toBe(0);
  return readFile(archive);
}

beforeAll(async () => {
  tmp = await makeTempDir("cli-remote-context");
  root = join(tmp.path, "store");
  files = await startHttpFileServer();
  const repos = join(tmp.path, "repos");
  repo = await createGitFixture(repos, "app.git");
  await repo.commit({
    Dockerfile: "FROM scratch\nCOPY . /src/\n",
    "alt.Dockerfile": "FROM scratch\nCOPY README.md /alt-readme\n",
    "README.md": "v1\n",
    "svc/Dockerfile": "FROM scratch\nCOPY main.txt /svc-main\n",
    "svc/main.txt": "service\n",
  });
  await repo.tag("v1");
  await repo.commit({ "README.md": "v2\n" });
  gitServer = await startGitHttpServer(repos);
}, 60_000);
afterAll(async () => {
  await files?.close();
  await gitServer?.close();
  await tmp?.cleanup();
});

describe("kiln build <URL | ->: remote and stdin main contexts (buildx semantics)", () => {
  it("builds a git checkout as the context: #ref, #ref:subdir, and -f inside the checkout", async () => {
    const url = `${gitServer.url}/app.git`;
    const tagged = await build(`${url}#v1`);
    expect(tagged.code, tagged.stderr).toBe(0);
    expect(await listing(join(tagged.out, "src"))).toEqual([
      "Dockerfile",
      "README.md",
      "alt.Dockerfile",
      "svc",
      "svc/Dockerfile",
      "svc/main.txt",
    ]);
    expect(await readFile(join(tagged.out, "src", "README.md"), "utf8")).toBe("v1\n");

    const head = await build(url, ["-f", "alt.Dockerfile"]);
    expect(head.code, head.stderr).toBe(0);
    expect(await readFile(join(head.out, "alt-readme"), "utf8")).toBe("v2\n");

    const sub = await build(`${url}#v1:svc`);
    expect(sub.code, sub.stderr).toBe(0);
    expect(await listing(sub.out)).toEqual(["svc-main"]);

    const missing = await build(url, ["-f", "nope.Dockerfile"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("cannot read Dockerfile nope.Dockerfile");
  }, 120_000);

  it("keeps .git in the context only with BUILDKIT_CONTEXT_KEEP_GIT_DIR=1", async () => {
    const url = `${gitServer.url}/app.git#v1`;
    const plain = await build(url);
    expect(plain.code, plain.stderr).toBe(0);
    expect(await listing(join(plain.out, "src"))).not.toContain(".git");
    const kept = await build(url, ["--build-arg", "BUILDKIT_CONTEXT_KEEP_GIT_DIR=1"]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(await listing(join(kept.out, "src"))).toContain(".git");
    expect(kept.stderr).not.toContain("were not consumed");
  }, 120_000);

  it("unpacks an https tarball as the context; a plain file is the Dockerfile (context = that file)", async () => {
    files.files.set("/ctx.tar.gz", {
      body: await tarball({
        Dockerfile: "FROM scratch\nCOPY data /data\n",
        "data/a.txt": "from the tarball\n",
      }),
    });
    const tar = await build(`${files.url}/ctx.tar.gz`);
    expect(tar.code, tar.stderr).toBe(0);
    expect(await readFile(join(tar.out, "data", "a.txt"), "utf8")).toBe("from the tarball\n");

    const dockerfile = "FROM scratch\nCOPY context /Dockerfile.copy\n";
    files.files.set("/Dockerfile.txt", { body: dockerfile });
    const plain = await build(`${files.url}/Dockerfile.txt`, ["-f", "ignored"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(await listing(plain.out)).toEqual(["Dockerfile.copy"]);
    expect(await readFile(join(plain.out, "Dockerfile.copy"), "utf8")).toBe(dockerfile);

    const gone = await build(`${files.url}/missing.tar.gz`);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("404");
  }, 120_000);

  it("reads a context tar, a Dockerfile (empty context) or, with -f -, only the Dockerfile from stdin", async () => {
    const tar = await build(
      "-",
      [],
      await tarball({
        Dockerfile: "FROM scratch\nCOPY . /ctx/\n",
        "x/y.txt": "y\n",
        ".dockerignore": "z\n",
        z: "",
      }),
    );
    expect(tar.code, tar.stderr).toBe(0);
    expect(await listing(join(tar.out, "ctx"))).toEqual([".dockerignore", "Dockerfile", "x", "x/y.txt"]);

    const lone = await build("-", [], "FROM scratch\nCOPY . /ctx/\n");
    expect(lone.code, lone.stderr).toBe(0);
    expect(await listing(join(lone.out, "ctx"))).toEqual([]);

    const dir = join(tmp.path, "dir-ctx");
    await mkdir(dir);
    await writeFile(join(dir, "file.txt"), "local\n");
    const piped = await build(dir, ["-f", "-"], "FROM scratch\nCOPY file.txt /got\n");
    expect(piped.code, piped.stderr).toBe(0);
    expect(await readFile(join(piped.out, "got"), "utf8")).toBe("local\n");

    const both = await build("-", ["-f", "-"], "FROM scratch\n");
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("can't use stdin for both");
  }, 120_000);

  it("--call reads the Dockerfile of a git or stdin context", async () => {
    const check = await kiln(["build", "--root", root, "--check", `${gitServer.url}/app.git#v1:svc`]);
    expect(check.stdout).toContain("Check complete, no warnings found.");
    expect(check.code, check.stderr).toBe(0);
    const targets = await kiln(["build", "--call=targets", "-"], {
      input: "FROM scratch AS first\nFROM first AS Second\n",
    });
    expect(targets.code, targets.stderr).toBe(0);
    expect(targets.stdout).toMatch(/^second \(default\)/m);
    const lint = await kiln(["build", "--check", "-"], { input: "FROM scratch AS Bad\n" });
    expect(lint.code).toBe(1);
    expect(lint.stdout).toContain("StageNameCasing");
  }, 60_000);
});
