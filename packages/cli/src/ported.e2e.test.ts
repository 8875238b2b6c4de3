/**
 * Behaviours of BuildKit's Dockerfile integration tests (`dockerfile-tests.md`) ported as kiln tests:
 * each `it` names the BuildKit test(s) whose behaviour it checks. Real builds, real runc, outputs read
 * with skopeo and the local exporter.
 */
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hostPlatform } from "@kiln/core";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, kiln, run } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
let root: string;
let bb: string[];
let n = 0;

beforeAll(async () => {
  tmp = await makeTempDir("cli-ported");
  root = join(tmp.path, "store");
  bb = await busybox(tmp.path);
}, 60_000);
afterAll(() => tmp?.cleanup());

/** A context with `files` (path → content) and the Dockerfile. */
async function context(dockerfile: string, files: Record<string, string> = {}): Promise<string> {
  const dir = join(tmp.path, `ctx-${n++}`);
  for (const [path, content] of Object.entries({ ...files, Dockerfile: dockerfile })) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

async function buildLocal(dir: string, extra: string[] = []) {
  const out = join(tmp.path, `out-${n++}`);
  const r = await kiln(["build", "--root", root, ...bb, "-o", `type=local,dest=${out}`, ...extra, dir]);
  return { ...r, out };
}

/** Builds to an OCI archive and returns the image config (skopeo's raw view). */
async function buildConfig(dir: string, extra: string[] = []) {
  const tar = join(tmp.path, `img-${n++}.tar`);
  const r = await kiln([
    "build",
    "--root",
    root,
    ...bb,
    "-t",
    "p:1",
    "-o",
    `type=oci,dest=${tar}`,
    ...extra,
    dir,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const inspect = await run("skopeo", ["inspect", "--config", "--raw", `oci-archive:${tar}`]);
  expect(inspect.code, inspect.stderr).toBe(0);
  return JSON.parse(inspect.stdout) as {
    created: string;
    config: { Env?: string[]; ExposedPorts?: Record<string, object> };
    history: { created: string; created_by: string; empty_layer?: boolean }[];
  };
}

/** Relative path → "mode size content" for every entry of a tree (for comparing two outputs). */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of (await readdir(dir, { recursive: true })).sort()) {
    const st = await stat(join(dir, rel));
    const body = st.isFile() ? await readFile(join(dir, rel), "utf8") : "";
    out[rel] = `${(st.mode & 0o7777).toString(8)} ${st.isDirectory() ? "dir" : body}`;
  }
  return out;
}

describe("ported from BuildKit's Dockerfile integration tests", () => {
  it("testAddChownExpand, testWorkdirUser, testWorkdirExists: --chown expands ENV and ARG; WORKDIR belongs to USER", async () => {
    const dir = await context(
      [
        "FROM busybox",
        "ARG group",
        "ENV owner 1000",
        "ADD --chown=${owner}:${group} foo /",
        'RUN [ "$(busybox stat -c "%u %G" /foo)" = "1000 nogroup" ]',
        "RUN echo user:x:1000:1000::/home/user:/bin/sh >> /etc/passwd && echo user:x:1000: >> /etc/group",
        "RUN mkdir /exists && chown user:user /exists",
        "USER user",
        "WORKDIR /mydir",
        'RUN [ "$(busybox stat -c "%U %G" /mydir)" = "user user" ]',
        "WORKDIR /exists",
        'RUN [ "$(busybox stat -c "%U %G" /exists)" = "user user" ] && [ "$PWD" = /exists ]',
        "",
      ].join("\n"),
      { foo: "foo-contents\n" },
    );
    const r = await buildLocal(dir, ["--build-arg", "group=nogroup"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(r.out, "foo"), "utf8")).toBe("foo-contents\n");
  }, 120_000);

  it("testWorkdirCreatesDir, testEmptyDestDir, testCopyVarSubstitution: WORKDIR makes the directory, an empty dest is the workdir", async () => {
    const dir = await context(
      'FROM scratch\nWORKDIR /foo\nWORKDIR /\nWORKDIR /app\nENV empty="" FOO=bar\nCOPY testfile $empty\nCOPY $FOO baz\n',
      { testfile: "contents0", bar: "bar-file" },
    );
    const r = await buildLocal(dir);
    expect(r.code, r.stderr).toBe(0);
    expect((await stat(join(r.out, "foo"))).isDirectory()).toBe(true);
    expect(await readFile(join(r.out, "app", "testfile"), "utf8")).toBe("contents0");
    expect(await readFile(join(r.out, "app", "baz"), "utf8")).toBe("bar-file");
  }, 60_000);

  it("testCopyLinkDotDestDir, testCopyLinkEmptyDestDir: COPY --link gives the same tree as COPY (chmod on dirs too)", async () => {
    const files = { testfile: "contents0", testfile2: "contents2", "dir/sub/a.txt": "a", "dir/b.sh": "b" };
    const body = (link: string) =>
      [
        "FROM scratch",
        "WORKDIR /var/www",
        `COPY ${link}testfile .`,
        'ENV empty=""',
        `COPY ${link}testfile2 $empty`,
        `COPY ${link}--chmod=0750 dir /chmodded/`,
        `COPY ${link}--chmod=u=rwX,go=rX dir /symbolic/`,
        "",
      ].join("\n");
    const linked = await buildLocal(await context(body("--link "), files));
    const plain = await buildLocal(await context(body(""), files));
    expect(linked.code, linked.stderr).toBe(0);
    expect(plain.code, plain.stderr).toBe(0);
    const got = await tree(linked.out);
    expect(got).toEqual(await tree(plain.out));
    expect(got["var/www/testfile"]).toMatch(/ contents0$/);
    expect(got["var/www/testfile2"]).toMatch(/ contents2$/);
    // --chmod applies to the directories copied as well as to the files, as in BuildKit.
    expect(got["chmodded/sub"]).toBe("750 dir");
    expect(got["chmodded/sub/a.txt"]).toBe("750 a");
    expect(got["symbolic/sub"]).toBe("755 dir");
  }, 120_000);

  it("testExcludedFilesOnCopy: --exclude patterns match below each source (dirs, wildcards, everything)", async () => {
    const dir = await context(
      [
        "FROM scratch",
        "COPY --exclude=*/*.png --exclude=*/*.jpeg --exclude=Dockerfile . /1",
        "ADD --exclude=*.mp3 dir3/ /3/",
        "COPY --exclude=*.mp3 --exclude=*.jpeg --exclude=*.png --exclude=*.pdf --exclude=*.txt dir* /4/",
        "ADD --exclude=* dir* /6",
        "",
      ].join("\n"),
      {
        "dir1/f101.png": "2",
        "dir1/f102.txt": "3",
        "dir1/f103.jpeg": "4",
        "dir2/f201.pdf": "6",
        "dir2/f203.png": "8",
        "dir3/f301.mp3": "9",
        "dir3/f302.mpeg": "10",
      },
    );
    const r = await buildLocal(dir);
    expect(r.code, r.stderr).toBe(0);
    const list = async (sub: string) => (await readdir(join(r.out, sub), { recursive: true })).sort();
    expect(await list("1")).toEqual([
      "dir1",
      "dir1/f102.txt",
      "dir2",
      "dir2/f201.pdf",
      "dir3",
      "dir3/f301.mp3",
      "dir3/f302.mpeg",
    ]);
    expect(await list("3")).toEqual(["f302.mpeg"]);
    expect(await list("4")).toEqual(["f302.mpeg"]);
    expect(await readFile(join(r.out, "4", "f302.mpeg"), "utf8")).toBe("10");
    expect(await list("6")).toEqual([]);
  }, 60_000);

  it("testSourceDateEpochDockerfileDefault/-Override/-Invalid, testSourceDateEpochWithoutExporter: image and history times", async () => {
    const df = "ARG SOURCE_DATE_EPOCH=1700000000\nFROM scratch\nCOPY Dockerfile .\nENV X=1\n";
    const byDefault = await buildConfig(await context(df));
    expect(byDefault.created).toBe("2023-11-14T22:13:20Z");
    expect(byDefault.history.map((h) => h.created)).toEqual(["2023-11-14T22:13:20Z", "2023-11-14T22:13:20Z"]);

    const overridden = await buildConfig(await context(df), ["--build-arg", "SOURCE_DATE_EPOCH=1600000000"]);
    expect(overridden.created).toBe("2020-09-13T12:26:40Z");
    expect(overridden.history.every((h) => h.created === "2020-09-13T12:26:40Z")).toBe(true);

    const onlyArg = await buildConfig(
      await context("FROM scratch\nENTRYPOINT foo bar\nCOPY Dockerfile .\n"),
      ["--build-arg", "SOURCE_DATE_EPOCH=1500000000"],
    );
    expect(onlyArg.created).toBe("2017-07-14T02:40:00Z");

    const invalid = await buildLocal(
      await context("ARG SOURCE_DATE_EPOCH=not-a-timestamp\nFROM scratch\nCOPY Dockerfile .\n"),
    );
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("invalid SOURCE_DATE_EPOCH: not-a-timestamp");
  }, 120_000);

  it("testExposeExpansion, testDefaultEnvWithArgs, testEnvEmptyFormatting: expansions in EXPOSE, FROM and ENV", async () => {
    const dir = await context(
      [
        "ARG image=idlebox",
        "FROM busy${image#idle} AS build",
        "ARG my_arg",
        'ENV my_arg "my_arg=${my_arg:-def_val}"',
        'ENV my_trimmed_arg "${my_arg%%e*}"',
        "ENV myenv foo%sbar",
        'ARG PORTS="3000 4000/udp"',
        "EXPOSE $PORTS",
        "EXPOSE 5000",
        "",
      ].join("\n"),
    );
    const defaulted = await buildConfig(dir);
    expect(defaulted.config.Env).toEqual(
      expect.arrayContaining(["my_arg=my_arg=def_val", "my_trimmed_arg=my_arg=d", "myenv=foo%sbar"]),
    );
    expect(Object.keys(defaulted.config.ExposedPorts ?? {}).sort()).toEqual([
      "3000/tcp",
      "4000/udp",
      "5000/tcp",
    ]);
    const given = await buildConfig(dir, ["--build-arg", "my_arg=other"]);
    expect(given.config.Env).toEqual(
      expect.arrayContaining(["my_arg=my_arg=other", "my_trimmed_arg=my_arg=oth"]),
    );
  }, 60_000);

  it("testEmptyStages: a Dockerfile with only global ARGs has no stages to build", async () => {
    const r = await buildLocal(await context("ARG foo=bar\n"));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("dockerfile contains no stages to build");
  }, 30_000);

  it("testOnBuildHeredoc, testExportedHistory: ONBUILD triggers run (heredocs too) and leave history entries", async () => {
    const base = await context(
      'FROM busybox\nONBUILD RUN <<EOF\necho "from the trigger" > /onbuild\nEOF\nONBUILD ENV TRIGGERED=1\n',
    );
    const tar = join(tmp.path, `base-${n++}.tar`);
    const built = await kiln([
      "build",
      "--root",
      root,
      ...bb,
      "-t",
      "base:1",
      "-o",
      `type=oci,dest=${tar}`,
      base,
    ]);
    expect(built.code, built.stderr).toBe(0);
    const layout = join(tmp.path, `base-layout-${n++}`);
    await mkdir(layout);
    expect((await run("tar", ["-xf", tar, "-C", layout])).code).toBe(0);

    const child = await context("FROM base\nRUN cp /onbuild /copied\n");
    const ctx = ["--build-context", `base=oci-layout://${layout}:1`];
    const out = await buildLocal(child, ctx);
    expect(out.code, out.stderr).toBe(0);
    expect(await readFile(join(out.out, "copied"), "utf8")).toBe("from the trigger\n");

    const config = await buildConfig(child, ctx);
    const createdBy = config.history.map((h) => h.created_by);
    // The base's own history (its ONBUILD records), then the triggers, then the child's step.
    expect(createdBy.some((c) => c.includes("ONBUILD RUN <<EOF"))).toBe(true);
    const trigger = createdBy.findIndex((c) => c.startsWith("RUN") && c.includes("from the trigger"));
    const own = createdBy.findIndex((c) => c.includes("cp /onbuild /copied"));
    expect(trigger).toBeGreaterThanOrEqual(0);
    expect(own).toBeGreaterThan(trigger);
    expect(config.config.Env).toContain("TRIGGERED=1");
    expect((config.config as { OnBuild?: string[] | null }).OnBuild ?? []).toEqual([]);
  }, 120_000);

  it("testBuiltinArgs (platform part): TARGET*/BUILD* args reach RUN only when declared", async () => {
    const dir = await context(
      [
        "FROM busybox",
        'RUN echo "[$TARGETARCH]" > /undeclared',
        "ARG TARGETPLATFORM TARGETOS TARGETARCH BUILDPLATFORM BUILDOS",
        'RUN echo "$TARGETPLATFORM $TARGETOS $TARGETARCH $BUILDPLATFORM $BUILDOS" > /declared',
        "",
      ].join("\n"),
    );
    const r = await buildLocal(dir);
    expect(r.code, r.stderr).toBe(0);
    const { os, architecture, variant } = hostPlatform();
    const platform = `${os}/${architecture}${variant ? `/${variant}` : ""}`;
    expect(await readFile(join(r.out, "undeclared"), "utf8")).toBe("[]\n");
    expect(await readFile(join(r.out, "declared"), "utf8")).toBe(
      `${platform} ${os} ${architecture} ${platform} ${os}\n`,
    );
  }, 60_000);
});
