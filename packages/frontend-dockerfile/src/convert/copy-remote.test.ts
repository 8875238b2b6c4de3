import type { FrontendBridge, Platform } from "@kiln/core";
import { loadDefinition, type pb } from "@kiln/llb";
import { describe, expect, it } from "vitest";
import { convertDockerfile } from "./frontend.js";

const PLATFORM: Platform = { os: "linux", architecture: "amd64" };
const SUM = `sha256:${"c".repeat(64)}`;

const bridge: FrontendBridge = {
  async resolveImage(ref) {
    throw new Error(`no image ${ref} in this test`);
  },
  warn() {},
};

async function convert(dockerfile: string, attrs: Record<string, string> = {}) {
  const result = await convertDockerfile({
    attrs,
    file: { name: "Dockerfile", data: new TextEncoder().encode(dockerfile) },
    platform: PLATFORM,
    bridge,
  });
  const ops = [...loadDefinition(result.definition).ops.values()];
  const sources = ops.flatMap(({ op }) => (op.op?.case === "source" ? [op.op.value as pb.SourceOp] : []));
  const copies = ops.flatMap(({ op }) =>
    op.op?.case === "file"
      ? (op.op.value.actions ?? []).flatMap((a) => (a.action?.case === "copy" ? [a.action.value] : []))
      : [],
  );
  const names = ops.map(({ metadata }) => metadata?.description?.["llb.customname"]).filter(Boolean);
  return { ...result, sources, copies, names };
}

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e) => e,
  );

describe("ADD of a URL", () => {
  it("becomes an http source named after the URL path, copied without unpacking", async () => {
    const r = await convert(
      `FROM scratch\nADD --checksum=${SUM} --chmod=0755 https://example.com/dl/tool.tar.gz /opt/\n`,
    );
    expect(r.sources).toEqual([
      {
        identifier: "https://example.com/dl/tool.tar.gz",
        attrs: { "http.filename": "tool.tar.gz", "http.checksum": SUM },
      },
    ]);
    expect(r.copies).toEqual([
      expect.objectContaining({ src: "/tool.tar.gz", dest: "/opt/", mode: 0o755, createDestPath: true }),
    ]);
    expect(r.copies[0]?.attemptUnpackDockerCompatibility ?? false).toBe(false);
    // The source op carries the step name, so a download error points at the ADD line.
    expect(r.names.filter((n) => n?.includes("ADD")).length).toBe(2);
    expect(Object.values(r.locations).every((l) => l.line === 2)).toBe(true);
  });

  it("--unpack=true unpacks; a URL without a path gets __unnamed__", async () => {
    const r = await convert(
      "FROM scratch\nADD --unpack=true https://example.com/a.tgz /x/\nADD https://example.com /y\n",
    );
    expect(r.copies[0]?.attemptUnpackDockerCompatibility).toBe(true);
    expect(r.sources.map((s) => s.attrs?.["http.filename"])).toEqual(["a.tgz", "__unnamed__"]);
  });

  it("keeps credentials out of step names and history", async () => {
    const r = await convert("FROM scratch\nADD https://user:hunter2@example.com/f.txt /f\n");
    expect(r.sources[0]?.identifier).toBe("https://user:hunter2@example.com/f.txt");
    expect(JSON.stringify(r.names)).not.toContain("hunter2");
    expect(JSON.stringify(r.config.history)).not.toContain("hunter2");
    expect(r.config.history?.at(-1)?.created_by).toContain("https://xxxxx@example.com/f.txt");
  });

  it("rejects URLs in COPY, bad checksums and checksums of local sources, naming the line", async () => {
    expect(await errorOf(convert("FROM scratch\nCOPY https://example.com/f /f\n"))).toMatchObject({
      code: "INVALID_ARGUMENT",
      message: "source can't be a URL for COPY",
      location: { line: 2 },
    });
    expect(
      await errorOf(convert("FROM scratch\nADD --checksum=md5:00 https://example.com/f /f\n")),
    ).toMatchObject({
      message: expect.stringContaining("invalid checksum digest format"),
    });
    expect(await errorOf(convert(`FROM scratch\nADD --checksum=${SUM} local.txt /f\n`))).toMatchObject({
      message: "checksum requires HTTP(S) or Git sources",
    });
    expect(
      await errorOf(convert(`FROM scratch\nADD --checksum=${SUM} https://e.com/a https://e.com/b /d/\n`)),
    ).toMatchObject({ message: "checksum can't be specified for multiple sources" });
  });
});

describe("ADD of a git repository", () => {
  it("becomes a git source with ref, subdir and keep-git-dir, copied from its root", async () => {
    const r = await convert(
      "FROM scratch\nADD --keep-git-dir=true https://example.com/org/repo.git#v1.0:docs /src\n",
    );
    expect(r.sources).toEqual([
      {
        identifier: "git://example.com/org/repo.git#v1.0:docs",
        attrs: {
          "git.keepgitdir": "true",
          "git.fullurl": "https://example.com/org/repo.git",
          "git.authtokensecret": "GIT_AUTH_TOKEN",
          "git.authheadersecret": "GIT_AUTH_HEADER",
        },
      },
    ]);
    expect(r.copies).toEqual([expect.objectContaining({ src: "/", dest: "/src", createDestPath: true })]);
  });

  it("takes the commit checksum from --checksum or ?checksum=, and rejects conflicts", async () => {
    const r = await convert("FROM scratch\nADD --checksum=abc123 git@example.com:org/repo.git /src\n");
    expect(r.sources[0]?.attrs).toMatchObject({ "git.checksum": "abc123", "git.mountsshsock": "default" });
    expect(
      await errorOf(convert("FROM scratch\nADD --checksum=abc https://e.com/r.git?checksum=def /src\n")),
    ).toMatchObject({ message: expect.stringContaining("checksum mismatch"), location: { line: 2 } });
    expect(
      await errorOf(
        convert("FROM scratch\nADD --keep-git-dir=false https://e.com/r.git?keep-git-dir=true /s\n"),
      ),
    ).toMatchObject({ message: "inconsistent keep-git-dir configuration" });
    expect(await errorOf(convert("FROM scratch\nCOPY git://e.com/r /s\n"))).toMatchObject({
      message: "source can't be a git ref for COPY",
    });
  });
});

describe("remote named contexts", () => {
  it("a git URL or an http URL replaces an image, a --from source and a whole stage", async () => {
    const r = await convert(
      "FROM tools AS build\nRUN false\nFROM base\nCOPY --from=files context /ctx\nCOPY --from=build / /b\n",
      {
        "context:tools": "https://example.com/tools.git#main",
        "context:base": "git@example.com:org/base.git",
        "context:files": "https://example.com/archive.tar.gz",
        "context:build": "https://example.com/build.git#v2:out",
      },
    );
    expect(r.sources.map((s) => s.identifier).sort()).toEqual([
      "git://example.com/build.git#v2:out",
      "git://example.com/org/base.git",
      "https://example.com/archive.tar.gz",
    ]);
    const http = r.sources.find((s) => s.identifier.startsWith("https://"));
    expect(http?.attrs).toEqual({ "http.filename": "context" });
    // The replaced stage's RUN is not converted at all.
    expect(r.names.some((n) => n?.includes("RUN"))).toBe(false);
  });

  it("a git-looking value that is not a valid git reference is an error", async () => {
    expect(await errorOf(convert("FROM x\n", { "context:x": "git://example.com/r?bogus=1" }))).toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });
});
