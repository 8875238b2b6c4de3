import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
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
import { events, kiln, run } from "./e2e-helpers.test-helpers.js";

const MODIFIED = new Date("2024-05-06T07:08:09Z");
const TOOL = "#!/bin/sh\necho tool\n";
const sha = (data: string | Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

let tmp: TempDir;
let root: string;
let files: HttpFileServer;
let gitServer: GitHttpServer;
let repo: GitFixture;
let v1: string;
let n = 0;

/** Builds `dockerfile` in a fresh context directory; `-o type=oci` when `image` names a tar. */
async function build(dockerfile: string, extra: string[] = [], image?: string) {
  const ctx = join(tmp.path, `ctx-${n++}`);
  await mkdir(ctx);
  await writeFile(join(ctx, "Dockerfile"), dockerfile);
  const out = image ? ["-t", "remote:1", "-o", `type=oci,dest=${image}`] : [];
  return kiln(["build", "--root", root, "--progress", "rawjson", ...out, ...extra, ctx]);
}

/** Unpacks an OCI archive with umoci and returns the rootfs path. */
async function unpack(image: string): Promise<string> {
  const dir = join(tmp.path, `unpacked-${n++}`);
  await mkdir(join(dir, "layout"), { recursive: true });
  expect((await run("tar", ["-xf", image, "-C", join(dir, "layout")])).code).toBe(0);
  const r = await run("umoci", ["unpack", "--image", `${join(dir, "layout")}:1`, join(dir, "bundle")]);
  expect(r.code, r.stderr).toBe(0);
  return join(dir, "bundle", "rootfs");
}

const steps = (stderr: string) =>
  events(stderr).filter((e) => e.name?.startsWith("[") && !e.name.startsWith("[internal]"));

beforeAll(async () => {
  tmp = await makeTempDir("cli-remote");
  root = join(tmp.path, "store");
  files = await startHttpFileServer();
  files.files.set("/dl/tool.sh", { body: TOOL, lastModified: MODIFIED });
  const archive = join(tmp.path, "data.tar.gz");
  await mkdir(join(tmp.path, "arch"));
  await writeFile(join(tmp.path, "arch", "inside.txt"), "inside\n");
  expect((await run("tar", ["-czf", archive, "-C", join(tmp.path, "arch"), "inside.txt"])).code).toBe(0);
  files.files.set("/dl/data.tar.gz", { body: await readFile(archive) });
  files.redirects.set("/latest/tool.sh", "/dl/tool.sh");

  const repos = join(tmp.path, "repos");
  repo = await createGitFixture(repos, "repo.git");
  v1 = await repo.commit({ "README.md": "v1\n", "docs/guide.md": "guide\n", "bin/run.sh": "#!/bin/sh\n" });
  await chmod(join(repo.dir, "bin/run.sh"), 0o755);
  v1 = await repo.commit({}, "exec bit");
  await repo.tag("v1");
  await repo.commit({ "README.md": "v2\n" });
  gitServer = await startGitHttpServer(repos);
}, 60_000);
afterAll(async () => {
  await files?.close();
  await gitServer?.close();
  await tmp?.cleanup();
});

describe("remote sources: ADD of URLs and git repositories, remote named contexts", () => {
  it("builds an image with downloads and checkouts, then a second build is all CACHED", async () => {
    const url = files.url;
    const git = `${gitServer.url}/repo.git`;
    const dockerfile = `FROM scratch
ADD --chmod=0755 ${url}/latest/tool.sh /usr/bin/
ADD --chown=1000:1001 --checksum=${sha(TOOL)} ${url}/dl/tool.sh /checked/tool
ADD ${url}/dl/data.tar.gz /data/
ADD ${git}#v1 /src
ADD ${git}#main:docs /docs
ADD --keep-git-dir=true ${git}#v1 /withgit
COPY --from=gitctx README.md /ctx/README.md
COPY --from=filectx context /ctx/file
`;
    const contexts = ["--build-context", `gitctx=${git}#v1`, "--build-context", `filectx=${url}/dl/tool.sh`];
    const image = join(tmp.path, "image.tar");
    const first = await build(dockerfile, contexts, image);
    expect(first.code, first.stderr).toBe(0);
    const rootfs = await unpack(image);

    const tool = await stat(join(rootfs, "usr/bin/tool.sh"));
    expect(await readFile(join(rootfs, "usr/bin/tool.sh"), "utf8")).toBe(TOOL);
    expect(tool.mode & 0o7777).toBe(0o755);
    expect(tool.mtime.getTime()).toBe(MODIFIED.getTime());
    const checked = await stat(join(rootfs, "checked/tool"));
    expect([checked.mode & 0o7777, checked.uid, checked.gid]).toEqual([0o600, 1000, 1001]);
    // A downloaded archive is not unpacked (BuildKit semantics).
    expect(sha(await readFile(join(rootfs, "data/data.tar.gz")))).toBe(
      sha(files.files.get("/dl/data.tar.gz")?.body as Buffer),
    );
    expect(await readFile(join(rootfs, "src/README.md"), "utf8")).toBe("v1\n");
    expect((await stat(join(rootfs, "src/bin/run.sh"))).mode & 0o111).not.toBe(0);
    await expect(stat(join(rootfs, "src/.git"))).rejects.toThrow();
    expect(await readFile(join(rootfs, "docs/guide.md"), "utf8")).toBe("guide\n");
    expect(await readFile(join(rootfs, "withgit/.git/HEAD"), "utf8")).toBe(`${v1}\n`);
    expect(await readFile(join(rootfs, "ctx/README.md"), "utf8")).toBe("v1\n");
    expect(await readFile(join(rootfs, "ctx/file"), "utf8")).toBe(TOOL);

    const second = await build(dockerfile, contexts);
    expect(second.code, second.stderr).toBe(0);
    const secondSteps = steps(second.stderr);
    expect(secondSteps.some((e) => e.name?.includes("ADD --keep-git-dir"))).toBe(true);
    expect(secondSteps.filter((e) => e.type !== "vertex.cached")).toEqual([]);
  }, 180_000);

  it("a moved branch is seen: the next build checks out the new commit", async () => {
    const dockerfile = `FROM scratch\nADD ${gitServer.url}/repo.git#main /m\n`;
    const image1 = join(tmp.path, "branch1.tar");
    expect((await build(dockerfile, [], image1)).code).toBe(0);
    expect(await readFile(join(await unpack(image1), "m/README.md"), "utf8")).toBe("v2\n");
    await repo.commit({ "README.md": "v3\n" });
    const image2 = join(tmp.path, "branch2.tar");
    const r = await build(dockerfile, [], image2);
    expect(r.code, r.stderr).toBe(0);
    expect(steps(r.stderr).some((e) => e.type === "vertex.started" && e.name?.includes("ADD"))).toBe(true);
    expect(await readFile(join(await unpack(image2), "m/README.md"), "utf8")).toBe("v3\n");
  }, 120_000);

  it("a wrong --checksum fails with DATA_LOSS naming the Dockerfile line, without credentials", async () => {
    const url = files.url.replace("http://", "http://user:hunter2@");
    const wrong = sha("something else");
    const r = await build(`FROM scratch\nADD --checksum=${wrong} ${url}/dl/tool.sh /t\n`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /Dockerfile:2: ADD: checksum mismatch for http:\/\/xxxxx@127\.0\.0\.1:\d+\/dl\/tool\.sh/,
    );
    expect(r.stderr).toContain(`expected ${wrong}`);
    expect(r.stderr).not.toContain("hunter2");
  }, 60_000);

  it("a missing file is a clear error; a git checksum that does not match is DATA_LOSS", async () => {
    const missing = await build(`FROM scratch\nADD ${files.url}/nope.txt /n\n`);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/Dockerfile:2: ADD: .*invalid response status 404/);
    const git = await build(
      `FROM scratch\nADD --checksum=${"0".repeat(12)} ${gitServer.url}/repo.git#v1 /s\n`,
    );
    expect(git.code).not.toBe(0);
    expect(git.stderr).toMatch(
      /Dockerfile:2: ADD: expected checksum to match 000000000000, got [a-f0-9]{40}/,
    );
  }, 60_000);
});
