import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, kiln, run } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
/** `--build-context busybox=oci-layout://…`: checks look base images up, and tests stay offline. */
let bb: string[];

beforeAll(async () => {
  tmp = await makeTempDir("cli-call");
  bb = await busybox(tmp.path);
});
afterAll(() => tmp?.cleanup());

async function context(name: string, dockerfile: string): Promise<string> {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), dockerfile);
  return dir;
}

describe("kiln build --call", () => {
  it("--call=targets lists the stages with their doc comments and marks the default", async () => {
    const dir = await context(
      "targets",
      "# build compiles the app\nFROM busybox AS build\nFROM build AS test\n# release is what ships\nFROM build AS release\n",
    );
    const r = await kiln(["build", ...bb, "--call=targets", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^TARGET\s+DESCRIPTION$/m);
    expect(r.stdout).toMatch(/^build\s+compiles the app$/m);
    expect(r.stdout).toMatch(/^test\s*$/m);
    expect(r.stdout).toMatch(/^release \(default\)\s+is what ships$/m);
  }, 30_000);

  it("--check reports build-check warnings with file:line and fails; a clean file passes", async () => {
    const bad = await context("check-bad", "FROM busybox\nRUN echo a \\\n\n  && echo b\n");
    const r = await kiln(["build", ...bb, "--check", bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("NoEmptyContinuation");
    expect(r.stdout).toContain(`${join(bad, "Dockerfile")}:`);
    const good = await context("check-good", "FROM busybox\nRUN echo ok\n");
    const ok = await kiln(["build", ...bb, "--call=check", good]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("no warnings found");
  }, 30_000);

  it("--check prints each warning like buildx: rule, URL, message and the marked source line", async () => {
    const dir = await context("check-format", "FROM busybox AS Build\nCMD run --fast\n");
    const r = await kiln(["build", ...bb, "--check", dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      "WARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/\nStage name 'Build' should be lowercase\n",
    );
    expect(r.stdout).toContain(`${join(dir, "Dockerfile")}:2\n--------------------\n`);
    expect(r.stdout).toContain("   2 | >>> CMD run --fast\n");
    // buildx prints the count first, then the warnings.
    expect(r.stdout.startsWith("Check complete, 2 warnings have been found!\n\nWARNING: ")).toBe(true);
    const skipped = await context("check-skip", "# check=skip=all\nFROM busybox AS Build\n");
    expect((await kiln(["build", ...bb, "--check", skipped])).code).toBe(0);
    const json = await kiln(["build", ...bb, "--call=check,format=json", dir]);
    expect(json.code).toBe(1);
    const parsed = JSON.parse(json.stdout) as { warnings: { rule: string; location: { line: number } }[] };
    expect(parsed.warnings.map((w) => [w.rule, w.location.line])).toEqual([
      ["StageNameCasing", 1],
      ["JSONArgsRecommended", 2],
    ]);
  }, 30_000);

  it("--check reads .dockerignore for CopyIgnoredFile", async () => {
    const dir = await context("check-ignore", "FROM busybox\nCOPY secret.env /x\n");
    await writeFile(join(dir, ".dockerignore"), "*.env\n");
    const r = await kiln(["build", ...bb, "--check", dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Attempting to Copy file "secret.env" that is excluded by .dockerignore');
  }, 30_000);

  it("--call=outline lists the target's build args, secrets and ssh ids (text and JSON)", async () => {
    const dir = await context(
      "outline",
      [
        "# VERSION of the app to build",
        "ARG VERSION=1.2",
        "FROM busybox AS build",
        "ARG VERSION",
        "# DEBUG turns on logging",
        "ARG DEBUG=0",
        "RUN --mount=type=secret,id=npmrc,required --mount=type=ssh true",
        "# release is what ships",
        "FROM busybox AS release",
        "COPY --from=build /x /y",
        "FROM busybox AS other",
        "ARG UNRELATED=1",
        "",
      ].join("\n"),
    );
    const r = await kiln([
      "build",
      ...bb,
      "--call=outline",
      "--target",
      "release",
      "--build-arg",
      "DEBUG=1",
      dir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("TARGET:      release\nDESCRIPTION: is what ships\n");
    expect(r.stdout).toMatch(/^BUILD ARG {3}VALUE {3}DESCRIPTION$/m);
    expect(r.stdout).toMatch(/^VERSION {5}1\.2 {5}of the app to build$/m);
    expect(r.stdout).toMatch(/^DEBUG {7}1 {7}turns on logging$/m);
    expect(r.stdout).not.toContain("UNRELATED");
    expect(r.stdout).toMatch(/^SECRET {3}REQUIRED\nnpmrc {4}true$/m);
    expect(r.stdout).toMatch(/^SSH {7}REQUIRED\ndefault$/m);
    const json = await kiln(["build", ...bb, "--call=outline,format=json", "--target", "build", dir]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      name: "build",
      args: [
        { name: "VERSION", value: "1.2", description: "of the app to build" },
        { name: "DEBUG", value: "0", description: "turns on logging" },
      ],
      secrets: [{ name: "npmrc", required: true }],
      ssh: [{ name: "default", required: false }],
    });
  }, 30_000);

  it("--call=targets,format=json and an unknown request", async () => {
    const dir = await context("targets-json", "FROM busybox AS a\nFROM a AS b\n");
    const r = await kiln(["build", ...bb, "--call=targets,format=json", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).targets.map((t: { name: string }) => t.name)).toEqual(["a", "b"]);
    const bad = await kiln(["build", ...bb, "--call=nope", dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--call: unknown request "nope"');
  }, 30_000);

  it("a parse error names file:line:column and shows the line with a caret", async () => {
    const dir = await context("parse-error", "FROM busybox\nCOPY --frm=x a /b\n");
    const r = await kiln(["build", ...bb, "--check", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `ERROR: ${join(dir, "Dockerfile")}:2:6: COPY: unknown flag: --frm (did you mean from?)\n   2 | COPY --frm=x a /b\n     |      ^\n`,
    );
  }, 30_000);
});

describe("kiln build --call: base images are looked up (configs only)", () => {
  let layout: string;
  beforeAll(async () => {
    // A base image with ENV, SHELL and an ONBUILD trigger, built by kiln into an OCI layout.
    const dir = await context(
      "base-image",
      [
        "FROM scratch",
        "ENV BASEVAR=/opt",
        'SHELL ["/bin/bash", "-c"]',
        "ONBUILD RUN --mount=type=secret,id=onbuild_token true",
        "",
      ].join("\n"),
    );
    const tar = join(tmp.path, "base.tar");
    const root = join(tmp.path, "store");
    const built = await kiln(["build", "--root", root, "-t", "base:1", "-o", `type=oci,dest=${tar}`, dir]);
    expect(built.code, built.stderr).toBe(0);
    layout = join(tmp.path, "base-layout");
    await mkdir(layout);
    expect((await run("tar", ["-xf", tar, "-C", layout])).code).toBe(0);
  }, 60_000);

  const dockerfile = "FROM base\nENV OUT=$BASEVAR/out\nCMD run --fast\n";

  it("--check sees the base image's ENV (UndefinedVar) and SHELL (JSONArgsRecommended)", async () => {
    const dir = await context("check-base-env", dockerfile);
    const withBase = await kiln([
      "build",
      "--check",
      "--build-context",
      `base=oci-layout://${layout}:1`,
      dir,
    ]);
    expect(withBase.stdout + withBase.stderr).toContain("Check complete, no warnings found.");
    expect(withBase.code).toBe(0);

    // The same file on busybox (PATH only, default shell): both rules fire, so the env was known.
    const onBusybox = await kiln([
      "build",
      "--call=check,format=json",
      "--build-context",
      `base=${bb[1]?.replace(/^busybox=/, "")}`,
      dir,
    ]);
    expect(onBusybox.code).toBe(1);
    const rules = JSON.parse(onBusybox.stdout).warnings.map((w: { rule: string }) => w.rule);
    expect(rules).toEqual(["UndefinedVar", "JSONArgsRecommended"]);
  }, 30_000);

  it("--check reports InvalidBaseImagePlatform and fails on an image it cannot look up, naming the FROM", async () => {
    const dir = await context("check-base-platform", "FROM base\n");
    const ctx = ["--build-context", `base=oci-layout://${layout}:1`];
    const other = await kiln(["build", "--check", "--platform", "linux/s390x", ...ctx, dir]);
    expect(other.code).toBe(1);
    expect(other.stdout).toContain("InvalidBaseImagePlatform");

    const missing = await context("check-base-missing", "FROM 127.0.0.1:1/nothere:1\nCMD run\n");
    const r = await kiln(["build", "--check", missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(missing, "Dockerfile")}:1`);
    expect(r.stderr).toContain("127.0.0.1:1/nothere");
  }, 30_000);

  it("--call=outline lists secrets of the base image's ONBUILD triggers", async () => {
    const dir = await context("outline-onbuild", dockerfile);
    const r = await kiln([
      "build",
      "--call=outline,format=json",
      "--build-context",
      `base=oci-layout://${layout}:1`,
      dir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).secrets.map((s: { name: string }) => s.name)).toEqual(["onbuild_token"]);
  }, 30_000);
});
