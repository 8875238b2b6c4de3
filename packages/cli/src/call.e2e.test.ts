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
});
