import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kiln } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;

beforeAll(async () => {
  tmp = await makeTempDir("cli-call");
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
    const r = await kiln(["build", "--call=targets", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^TARGET\s+DESCRIPTION$/m);
    expect(r.stdout).toMatch(/^build\s+compiles the app$/m);
    expect(r.stdout).toMatch(/^test\s*$/m);
    expect(r.stdout).toMatch(/^release \(default\)\s+is what ships$/m);
  }, 30_000);

  it("--check reports build-check warnings with file:line and fails; a clean file passes", async () => {
    const bad = await context("check-bad", "FROM busybox\nRUN echo a \\\n\n  && echo b\n");
    const r = await kiln(["build", "--check", bad]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("NoEmptyContinuation");
    expect(r.stdout).toContain(`${join(bad, "Dockerfile")}:`);
    const good = await context("check-good", "FROM busybox\nRUN echo ok\n");
    const ok = await kiln(["build", "--call=check", good]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("no warnings found");
  }, 30_000);

  it("--check prints each warning like buildx: rule, URL, message and the marked source line", async () => {
    const dir = await context("check-format", "FROM busybox AS Build\nCMD run --fast\n");
    const r = await kiln(["build", "--check", dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      "WARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/\nStage name 'Build' should be lowercase\n",
    );
    expect(r.stdout).toContain(`${join(dir, "Dockerfile")}:2\n--------------------\n`);
    expect(r.stdout).toContain("   2 | >>> CMD run --fast\n");
    // buildx prints the count first, then the warnings.
    expect(r.stdout.startsWith("Check complete, 2 warnings have been found!\n\nWARNING: ")).toBe(true);
    const skipped = await context("check-skip", "# check=skip=all\nFROM busybox AS Build\n");
    expect((await kiln(["build", "--check", skipped])).code).toBe(0);
    const json = await kiln(["build", "--call=check,format=json", dir]);
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
    const r = await kiln(["build", "--check", dir]);
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
    const r = await kiln(["build", "--call=outline", "--target", "release", "--build-arg", "DEBUG=1", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("TARGET:      release\nDESCRIPTION: is what ships\n");
    expect(r.stdout).toMatch(/^BUILD ARG {3}VALUE {3}DESCRIPTION$/m);
    expect(r.stdout).toMatch(/^VERSION {5}1\.2 {5}of the app to build$/m);
    expect(r.stdout).toMatch(/^DEBUG {7}1 {7}turns on logging$/m);
    expect(r.stdout).not.toContain("UNRELATED");
    expect(r.stdout).toMatch(/^SECRET {3}REQUIRED\nnpmrc {4}true$/m);
    expect(r.stdout).toMatch(/^SSH {7}REQUIRED\ndefault$/m);
    const json = await kiln(["build", "--call=outline,format=json", "--target", "build", dir]);
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
    const r = await kiln(["build", "--call=targets,format=json", dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).targets.map((t: { name: string }) => t.name)).toEqual(["a", "b"]);
    const bad = await kiln(["build", "--call=nope", dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--call: unknown request "nope"');
  }, 30_000);

  it("a parse error names file:line:column and shows the line with a caret", async () => {
    const dir = await context("parse-error", "FROM busybox\nCOPY --frm=x a /b\n");
    const r = await kiln(["build", "--check", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `ERROR: ${join(dir, "Dockerfile")}:2:6: COPY: unknown flag: --frm (did you mean from?)\n   2 | COPY --frm=x a /b\n     |      ^\n`,
    );
  }, 30_000);
});
