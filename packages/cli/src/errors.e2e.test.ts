import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, kiln } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
let root: string;
let contextFlags: string[];
let n = 0;

async function buildDockerfile(dockerfile: string, ...extra: string[]) {
  const ctx = join(tmp.path, `ctx-${n++}`);
  await mkdir(ctx);
  await writeFile(join(ctx, "Dockerfile"), dockerfile);
  await writeFile(join(ctx, "present.txt"), "here\n");
  const r = await kiln(["build", "--root", root, "--progress", "plain", ...contextFlags, ...extra, ctx]);
  return { ...r, file: join(ctx, "Dockerfile") };
}

beforeAll(async () => {
  tmp = await makeTempDir("cli-errors");
  root = join(tmp.path, "store");
  contextFlags = await busybox(tmp.path);
}, 60_000);
afterAll(() => tmp?.cleanup());

describe("bad input gets a clear error naming file, line and instruction; the store stays usable", () => {
  const cases: [string, string, RegExp, string[]?][] = [
    ["unknown instruction", "FROM busybox\nFOO bar\n", /Dockerfile:2.*unknown instruction: FOO/i],
    [
      "unknown flag",
      "FROM busybox\nCOPY --frm=x present.txt /x\n",
      /Dockerfile:2:6: COPY: unknown flag: --frm \(did you mean from\?\)\n {3}2 \| COPY --frm=x present\.txt \/x\n {5}\| {6}\^/,
    ],
    ["bad JSON form", "FROM busybox\nSHELL not json\n", /Dockerfile:2:1: SHELL/i],
    [
      "missing target stage",
      "FROM busybox AS a\n",
      /target stage "nope" could not be found/,
      ["--target", "nope"],
    ],
    [
      "cycle between stages",
      "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n",
      /circular dependency detected on stage/,
    ],
    ["missing COPY source", "FROM busybox\nCOPY nothere.txt /x\n", /Dockerfile:2: COPY.*nothere\.txt/],
    // Port 1 on loopback: nothing listens, so the pull fails at once without leaving the machine.
    ["unreachable registry", "FROM 127.0.0.1:1/alpine\n", /Dockerfile:1: FROM.*127\.0\.0\.1:1\/alpine/],
  ];
  for (const [name, dockerfile, pattern, extra] of cases) {
    it(name, async () => {
      const r = await buildDockerfile(dockerfile, ...(extra ?? []));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(pattern);
      if (pattern.source.startsWith("Dockerfile")) expect(r.stderr).toContain(r.file);
    }, 60_000);
  }

  it("a COPY source hidden by .dockerignore says so", async () => {
    const ctx = join(tmp.path, "ctx-ignored");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), "FROM busybox\nCOPY app.env /app.env\n");
    await writeFile(join(ctx, "app.env"), "A=1\n");
    await writeFile(join(ctx, ".dockerignore"), "*.env\n");
    const r = await kiln(["build", "--root", root, ...contextFlags, ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Dockerfile:2: COPY.*"app\.env" is excluded by \.dockerignore/);
  }, 60_000);

  it("an unreadable context names the path", async () => {
    const missing = join(tmp.path, "no-such-dir");
    const r = await kiln(["build", "--root", root, ...contextFlags, missing]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(missing);
  }, 60_000);

  it("a broken OCI layout names the path", async () => {
    const broken = join(tmp.path, "broken-layout");
    await mkdir(broken);
    await writeFile(join(broken, "oci-layout"), "{not json");
    const ctx = join(tmp.path, "ctx-broken");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), "FROM base\n");
    const r = await kiln([
      "build",
      "--root",
      root,
      "--build-context",
      `base=oci-layout://${broken}:latest`,
      ctx,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(broken);
  }, 60_000);

  it("build-check warnings are listed after the build with file:line; check=error=true fails it", async () => {
    const df = "FROM busybox\nMAINTAINER me\nCOPY present.txt /present.txt\n";
    const r = await buildDockerfile(df);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\d+ warnings? found:\n/);
    // The summary comes after every build step.
    const summary = r.stderr.slice(r.stderr.search(/\d+ warnings? found:/));
    expect(summary).toContain(
      ` - ${r.file}:2: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label\n`,
    );
    expect(summary).not.toMatch(/^#\d+ /m);
    const strict = await buildDockerfile(`# check=error=true\n${df}`);
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toMatch(
      /Dockerfile:3: MAINTAINER: lint violation found for rules: MaintainerDeprecated/,
    );
  }, 60_000);

  it("after all those failures the same store still builds", async () => {
    const r = await buildDockerfile("FROM busybox\nCOPY present.txt /present.txt\n");
    expect(r.stderr).not.toContain("ERROR");
    expect(r.code).toBe(0);
  }, 60_000);
});
