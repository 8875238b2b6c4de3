import { describe, expect, it } from "vitest";
import { marshal } from "./marshal.js";
import type * as pb from "./pb.js";
import { decodeOp } from "./pb-decode.js";
import { git, http } from "./remote-source.js";
import { parseGitRef, redactUrl } from "./remote-url.js";
import type { State } from "./state.js";

const opts = { platform: { os: "linux", architecture: "amd64" }, localUniqueId: "u" };

function sourceOf(state: State) {
  const def = marshal(state, opts);
  const op = decodeOp(def.def[0] as Uint8Array);
  const caps = Object.keys(Object.values(def.metadata)[0]?.caps ?? {});
  return { op, src: (op.op as { case: "source"; value: pb.SourceOp }).value, caps };
}

describe("git references (BuildKit's fragment and query syntax)", () => {
  it.each([
    ["https://example.com/", undefined],
    ["https://example.com/foo", undefined],
    ["https://example.com/foo.git/", undefined],
    ["https://example.com/foo.git.bar", undefined],
    ["http://github.com/docker/docker.git:#branch", undefined],
    ["./.git", undefined],
    [".git", undefined],
    ["custom.xyz/moby/buildkit.git", undefined],
    ["ftp://example.com/foo.git", undefined],
  ])("%s is not a git reference", (text, want) => {
    expect(parseGitRef(text)).toBe(want);
  });

  it.each([
    ["https://example.com/foo.git", { remote: "https://example.com/foo.git", ref: "", subdir: "" }],
    ["https://example.com/foo.git#release/1.2", { ref: "release/1.2", subdir: "" }],
    ["https://github.com/foo/bar.git#baz/qux:quux/quuz", { ref: "baz/qux", subdir: "quux/quuz" }],
    ["https://github.com/docker/docker.git#:myfolder", { ref: "", subdir: "myfolder" }],
    ["https://h/r.git#main:../../etc", { ref: "main", subdir: "etc" }],
    ["https://h/r.git?ref=v1.0.0&subdir=/sub", { ref: "v1.0.0", subdir: "sub" }],
    ["https://h/r.git?subdir=/sub#v1.0.0", { ref: "v1.0.0", subdir: "sub" }],
    ["https://h/r.git?tag=v1", { ref: "refs/tags/v1" }],
    ["https://h/r.git?branch=dev", { ref: "refs/heads/dev" }],
    ["https://h/r.git?keep-git-dir", { keepGitDir: true }],
    ["https://h/r.git?keep-git-dir=false&checksum=abc1", { keepGitDir: false, checksum: "abc1" }],
    ["git://example.com/foo", { remote: "git://example.com/foo", scheme: "git", unencrypted: true }],
    ["git@github.com:moby/buildkit.git", { remote: "git@github.com:moby/buildkit.git", scheme: "ssh" }],
    ["git@github.com:moby/buildkit.git#v1:docs", { host: "github.com", ref: "v1", subdir: "docs" }],
    ["ssh://git@h:2222/r.git#x", { host: "h:2222", path: "/r.git", ref: "x", scheme: "ssh" }],
    [
      "https://foo:bar@github.com/moby/buildkit.git",
      { remote: "https://foo:bar@github.com/moby/buildkit.git" },
    ],
  ])("parses %s", (text, want) => {
    expect(parseGitRef(text)).toMatchObject(want);
  });

  it.each([
    ["https://h/r.git?nope=1", /unexpected query/],
    ["https://h/r.git?tag=a&branch=b", /branch conflicts with tag/],
    ["https://h/r.git?ref=a#b", /ref conflicts/],
    ["https://h/r.git?mtime=later", /invalid mtime/],
    ["https://h/r.git?ref=", /has no value/],
    ["https://u:p@h/r.git?keep-git-dir=maybe", /invalid keep-git-dir/],
  ])("rejects %s", (text, message) => {
    expect(() => parseGitRef(text)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringMatching(message) }),
    );
    expect(() => parseGitRef(text)).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(":p@") }),
    );
  });

  it("redacts user info of URLs in text", () => {
    expect(redactUrl("fetch https://user:pw@h/x and http://tok@h/y, not a@b")).toBe(
      "fetch https://xxxxx@h/x and http://xxxxx@h/y, not a@b",
    );
  });
});

describe("remote source ops", () => {
  it("http: the URL is the identifier; checksum, filename, perm, uid and gid as BuildKit's attrs and caps", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    const { op, src, caps } = sourceOf(
      http("https://example.com/f.tar?x=1", { checksum: digest, filename: "f", perm: 0o644, uid: 1, gid: 2 }),
    );
    expect(op.platform).toBeUndefined();
    expect(src.identifier).toBe("https://example.com/f.tar?x=1");
    expect(src.attrs).toEqual({
      "http.checksum": digest,
      "http.filename": "f",
      "http.perm": "0644",
      "http.uid": "1",
      "http.gid": "2",
    });
    expect(caps.sort()).toEqual(
      ["soruce.http.uidgid", "source.http", "source.http.checksum", "source.http.perm"].sort(),
    );
    expect(sourceOf(http("http://h/x")).src.attrs ?? {}).toEqual({});
    expect(() => http("http://h/x", { checksum: "md5:abc" })).toThrow(/invalid checksum/);
    expect(() => http("ftp://h/x")).toThrow(/not an http/);
  });

  it("git: identifier without credentials or scheme, full URL and defaults in attrs", () => {
    const { op, src, caps } = sourceOf(
      git("https://u:tok@example.com/org/repo.git#v1.2:sub/dir", { keepGitDir: true, checksum: "abcdef" }),
    );
    expect(op.platform).toBeUndefined();
    expect(src.identifier).toBe("git://example.com/org/repo.git#v1.2:sub/dir");
    expect(src.attrs).toEqual({
      "git.keepgitdir": "true",
      "git.fullurl": "https://u:tok@example.com/org/repo.git",
      "git.authtokensecret": "GIT_AUTH_TOKEN",
      "git.authheadersecret": "GIT_AUTH_HEADER",
      "git.checksum": "abcdef",
    });
    expect(caps).toEqual(
      expect.arrayContaining([
        "source.git",
        "source.git.keepgitdir",
        "source.git.fullurl",
        "source.git.checksum",
      ]),
    );
    expect(sourceOf(git("https://example.com/repo")).src.identifier).toBe("git://example.com/repo");
    expect(sourceOf(git("example.com/repo.git")).src.attrs?.["git.fullurl"]).toBe(
      "https://example.com/repo.git",
    );
    const ssh = sourceOf(git("git@example.com:org/repo.git", { ref: "main" })).src;
    expect(ssh.identifier).toBe("git://example.com/org/repo.git#main");
    expect(ssh.attrs?.["git.mountsshsock"]).toBe("default");
    expect(() => git("https://h/r.git", { checksum: "xyz" })).toThrow(/expected hex commit hash/);
  });
});
