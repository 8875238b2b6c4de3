import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, events, kiln, run } from "./e2e-helpers.test-helpers.js";

let tmp: TempDir;
let root: string;
let contextFlags: string[];

beforeAll(async () => {
  tmp = await makeTempDir("cli-run");
  root = join(tmp.path, "store");
  contextFlags = await busybox(tmp.path);
}, 60_000);
afterAll(() => tmp?.cleanup());

async function context(name: string, dockerfile: string): Promise<string> {
  const dir = join(tmp.path, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "Dockerfile"), dockerfile);
  return dir;
}

/** The image config of an OCI archive, read with tar (the exporter's output as a user would see it). */
async function imageConfig(
  archive: string,
): Promise<{ config?: { Env?: string[] }; history: { created_by?: string }[] }> {
  const list = async (path: string) => {
    const r = await run("tar", ["-xOf", archive, path]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  const index = await list("index.json");
  const manifest = await list(`blobs/sha256/${index.manifests[0].digest.slice(7)}`);
  return list(`blobs/sha256/${manifest.config.digest.slice(7)}`);
}

describe("RUN in real containers (runc)", () => {
  it.each(["overlay", "native"])(
    "on %s: runs steps in several stages, in parallel where independent, and exports their files",
    async (snapshotter) => {
      const dir = await context(
        "multi",
        [
          "FROM busybox AS a",
          "RUN echo from-a > /a.txt && sleep 1",
          "FROM busybox AS b",
          "USER nobody",
          "WORKDIR /tmp/work",
          'RUN ["sh", "-c", "id -u > uid.txt && pwd > pwd.txt && sleep 1"]',
          "FROM busybox",
          "ARG GREETING=hi",
          "COPY --from=a /a.txt /a.txt",
          "COPY --from=b /tmp/work/ /b/",
          "RUN echo $GREETING > /greeting.txt && rm /bin/ls",
        ].join("\n"),
      );
      const out = join(tmp.path, `out-multi-${snapshotter}`);
      const r = await kiln([
        "build",
        "--root",
        join(tmp.path, `store-${snapshotter}`),
        "--snapshotter",
        snapshotter,
        "--progress",
        "rawjson",
        ...contextFlags,
        "-o",
        `type=local,dest=${out}`,
        dir,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(await readFile(join(out, "a.txt"), "utf8")).toBe("from-a\n");
      expect(await readFile(join(out, "b/uid.txt"), "utf8")).toBe("65534\n");
      expect(await readFile(join(out, "b/pwd.txt"), "utf8")).toBe("/tmp/work\n");
      expect(await readFile(join(out, "greeting.txt"), "utf8")).toBe("hi\n");
      await expect(readFile(join(out, "bin/ls"))).rejects.toThrow();

      // The two one-second RUNs of stages a and b overlap in time.
      const evs = events(r.stderr) as { type: string; name?: string; time?: number }[];
      const span = (needle: string) => {
        const started = evs.find((e) => e.type === "vertex.started" && e.name?.includes(needle))?.time ?? 0;
        const done = evs.find((e) => e.type === "vertex.completed" && e.name?.includes(needle))?.time ?? 0;
        return [started, done] as const;
      };
      const [aStart, aEnd] = span("echo from-a");
      const [bStart, bEnd] = span("id -u");
      expect(aStart).toBeGreaterThan(0);
      expect(bStart).toBeLessThan(aEnd);
      expect(aStart).toBeLessThan(bEnd);
    },
    120_000,
  );

  it("a failing RUN names the Dockerfile line, the command, the exit code and its last output lines", async () => {
    const dir = await context(
      "fail",
      "FROM busybox\nRUN for i in 1 2 3; do echo line $i; done; sleep 0.3; echo oops >&2; exit 7\n",
    );
    const r = await kiln(["build", "--root", root, "--progress", "plain", ...contextFlags, dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(dir, "Dockerfile")}:2: RUN: process "/bin/sh -c for i in 1 2 3`);
    expect(r.stderr).toContain("did not complete successfully: exit code: 7");
    expect(r.stderr).toMatch(/ > line 3\n > oops\n/);
    const logPath = /full log: (\S+)/.exec(r.stderr)?.[1];
    expect(logPath).toBeDefined();
    expect(await readFile(logPath as string, "utf8")).toContain("line 1\n");
  }, 60_000);

  it("a missing binary and an unknown user are clear errors", async () => {
    const missing = await context("missing", 'FROM busybox\nRUN ["/nonexistent-binary"]\n');
    const r1 = await kiln(["build", "--root", root, ...contextFlags, missing]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/Dockerfile:2: RUN.*nonexistent-binary/);
    const user = await context("user", "FROM busybox\nUSER nosuchuser\nRUN true\n");
    const r2 = await kiln(["build", "--root", root, ...contextFlags, user]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/Dockerfile:3: RUN.*nosuchuser/);
  }, 60_000);

  it("runs heredocs: a lone RUN <<EOF script, and a command reading several heredocs (<<- strips tabs)", async () => {
    const dir = await context(
      "heredoc",
      [
        "FROM busybox",
        "ARG WHO=heredoc",
        "RUN <<EOF",
        "echo one > /one.txt",
        'echo "hello $WHO" > /two.txt',
        "EOF",
        "RUN cat <<A > /a.txt && cat <<-B > /b.txt",
        "line a",
        "A",
        "\tline b",
        "\tB",
        "",
      ].join("\n"),
    );
    const out = join(tmp.path, "out-heredoc");
    const r = await kiln(["build", "--root", root, ...contextFlags, "-o", `type=local,dest=${out}`, dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(out, "one.txt"), "utf8")).toBe("one\n");
    expect(await readFile(join(out, "two.txt"), "utf8")).toBe("hello heredoc\n");
    expect(await readFile(join(out, "a.txt"), "utf8")).toBe("line a\n");
    expect(await readFile(join(out, "b.txt"), "utf8")).toBe("line b\n");
  }, 60_000);

  it("runs a #! heredoc with its interpreter, from a file that is not left in the image", async () => {
    const dir = await context(
      "shebang",
      [
        "FROM busybox",
        "RUN ln -s busybox /bin/awk",
        // awk syntax: this only works when the kernel starts the script with /bin/awk.
        "RUN <<EOF",
        "#!/bin/awk -f",
        'BEGIN { print "from awk" > "/awk.txt" }',
        "EOF",
        "RUN <<-EOT",
        "\t#!/bin/sh",
        '\techo "$0" > /script-path.txt',
        "\tEOT",
      ].join("\n"),
    );
    const out = join(tmp.path, "out-shebang");
    const r = await kiln([
      "build",
      "--root",
      root,
      "--progress",
      "rawjson",
      ...contextFlags,
      "-o",
      `type=local,dest=${out}`,
      dir,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(out, "awk.txt"), "utf8")).toBe("from awk\n");
    // The script ran as a file under /dev/pipes/ (BuildKit's path), which is not part of the rootfs.
    expect(await readFile(join(out, "script-path.txt"), "utf8")).toBe("/dev/pipes/EOT\n");
    expect(existsSync(join(out, "dev", "pipes"))).toBe(false);
    // The step name carries the heredoc's first line, as in BuildKit.
    const names = events(r.stderr).map((e) => e.name ?? "");
    expect(names).toContain("[stage-0 3/4] RUN <<EOF (#!/bin/awk -f...)");
    expect(names).toContain("[internal] preparing inline document");
  }, 60_000);

  it("passes proxy build args to RUN without ARG, outside the cache key, config and history", async () => {
    const dockerfile = 'FROM busybox\nRUN echo "$HTTP_PROXY|$http_proxy|$NO_PROXY|$all_proxy" > /proxy.txt\n';
    const dir = await context("proxy", dockerfile);
    const build = async (name: string, args: string[]) => {
      const out = join(tmp.path, `out-proxy-${name}`);
      const tar = join(tmp.path, `proxy-${name}.tar`);
      const flags = args.flatMap((a) => ["--build-arg", a]);
      const r = await kiln([
        "build",
        "--root",
        root,
        "--progress",
        "rawjson",
        ...contextFlags,
        ...flags,
        "-o",
        `type=local,dest=${out}`,
        "-o",
        `type=oci,dest=${tar}`,
        dir,
      ]);
      expect(r.code, r.stderr).toBe(0);
      return { r, out, tar };
    };
    const first = await build("one", [
      "HTTP_PROXY=http://127.0.0.1:3128",
      "no_proxy=127.0.0.1",
      "ALL_PROXY=socks5://127.0.0.1:1080",
    ]);
    expect(await readFile(join(first.out, "proxy.txt"), "utf8")).toBe(
      "http://127.0.0.1:3128|http://127.0.0.1:3128|127.0.0.1|socks5://127.0.0.1:1080\n",
    );
    const config = await imageConfig(first.tar);
    expect(JSON.stringify(config)).not.toContain("127.0.0.1");
    expect(config.history.at(-1)?.created_by).toBe(
      `RUN /bin/sh -c echo "$HTTP_PROXY|$http_proxy|$NO_PROXY|$all_proxy" > /proxy.txt # buildkit`,
    );
    // Another proxy keeps the step cached (the value of the first build stays in the result).
    const second = await build("two", ["HTTP_PROXY=http://127.0.0.1:9999"]);
    const cached = events(second.r.stderr)
      .filter((e) => e.type === "vertex.cached")
      .map((e) => e.name ?? "");
    expect(cached.some((n) => n.includes("proxy.txt"))).toBe(true);
    expect(await readFile(join(second.out, "proxy.txt"), "utf8")).toContain("3128");
    // Declared with ARG, it is an ordinary build arg: in the key (the step runs again) and the history.
    const declared = await context(
      "proxy-arg",
      `FROM busybox\nARG HTTP_PROXY\n${dockerfile.split("\n")[1]}\n`,
    );
    const tar = join(tmp.path, "proxy-arg.tar");
    const r = await kiln([
      "build",
      "--root",
      root,
      ...contextFlags,
      "--build-arg",
      "HTTP_PROXY=http://127.0.0.1:9999",
      "-o",
      `type=oci,dest=${tar}`,
      declared,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((await imageConfig(tar)).history.at(-1)?.created_by).toMatch(
      /^RUN \|1 HTTP_PROXY=http:\/\/127\.0\.0\.1:9999 /,
    );
  }, 120_000);

  it("runs the base stage's ONBUILD triggers at the start of the child stage, once", async () => {
    const dir = await context(
      "onbuild",
      [
        "FROM busybox AS base",
        "ONBUILD RUN echo triggered >> /trig",
        "ONBUILD COPY a.txt /a.txt",
        "FROM base AS child",
        "RUN cat /trig /a.txt > /both",
        "FROM child",
        "RUN cat /trig > /final",
      ].join("\n"),
    );
    await writeFile(join(dir, "a.txt"), "from the context\n");
    const out = join(tmp.path, "out-onbuild");
    const r = await kiln(["build", "--root", root, ...contextFlags, "-o", `type=local,dest=${out}`, dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(join(out, "both"), "utf8")).toBe("triggered\nfrom the context\n");
    // Triggers are not inherited by grandchildren: the file was written once.
    expect(await readFile(join(out, "final"), "utf8")).toBe("triggered\n");
  }, 60_000);
});
