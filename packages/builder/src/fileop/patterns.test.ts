import { execFileSync } from "node:child_process";
import { chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createPatternMatcher, parseModeString, pathMatch } from "./index.js";
import { tempDir } from "./tree.test-helpers.js";

describe("pathMatch (Go path.Match)", () => {
  const cases: Array<[string, string, boolean]> = [
    ["*.txt", "a.txt", true],
    ["*.txt", "dir/a.txt", false],
    ["a/*/c", "a/b/c", true],
    ["a?c", "abc", true],
    ["a?c", "a/c", false],
    ["[a-c]x", "bx", true],
    ["[^a-c]x", "bx", false],
    ["\\*", "*", true],
    ["f*o", "foo", true],
    ["*", "", true],
  ];
  for (const [pattern, name, want] of cases) {
    it(`${pattern} ~ ${JSON.stringify(name)} = ${want}`, () => expect(pathMatch(pattern, name)).toBe(want));
  }
  it("rejects malformed patterns", () => {
    expect(() => pathMatch("[", "x")).toThrow(/syntax error/);
    expect(() => pathMatch("a\\", "b")).toThrow(/syntax error/);
  });
});

describe("Docker pattern matcher", () => {
  const m = (patterns: string[], path: string) => createPatternMatcher(patterns).matches(path).matched;
  it("anchors at the root, matches below matched directories, supports ** and ! exceptions", () => {
    expect(m(["*.md"], "README.md")).toBe(true);
    expect(m(["*.md"], "docs/a.md")).toBe(false);
    expect(m(["**/*.md"], "docs/deep/a.md")).toBe(true);
    expect(m(["**/*.md"], "a.md")).toBe(true);
    expect(m(["docs"], "docs/deep/a.md")).toBe(true);
    expect(m(["docs", "!docs/keep.md"], "docs/keep.md")).toBe(false);
    expect(m(["docs", "!docs/keep.md"], "docs/other.md")).toBe(true);
    expect(m(["**"], "anything/at/all")).toBe(true);
    expect(m(["a/**/b"], "a/x/y/b")).toBe(true);
    expect(m(["./src/"], "src/x")).toBe(true);
    expect(createPatternMatcher(["a", "!a/b"]).exclusions).toBe(true);
    expect(() => createPatternMatcher(["!"])).toThrow(/illegal exclusion/);
  });
  it("gives the same answers with parent results threaded through a walk", () => {
    const pm = createPatternMatcher(["lib", "!lib/keep", "**/*.tmp"]);
    const parent = pm.matches("lib");
    expect(pm.matches("lib/keep", parent.info).matched).toBe(pm.matches("lib/keep").matched);
    expect(pm.matches("lib/x", parent.info).matched).toBe(true);
    expect(pm.matches("src/a.tmp").matched).toBe(true);
  });
});

describe("symbolic chmod", () => {
  it("agrees with chmod(1) run with umask 0", async () => {
    const dir = await tempDir();
    const modes = [
      "go-w",
      "o-rwx,g+x",
      "u=rwx,g=,o=",
      "u+rw,g+r,o-x,o+w",
      "a+X",
      "u=rwX,go=rX",
      "+x",
      "-X",
      "g=u",
      "u+s,+t",
      "0755",
    ];
    for (const [i, spec] of modes.entries()) {
      for (const [kind, start] of [
        ["file", 0o666],
        ["exec", 0o744],
        ["dir", 0o124],
      ] as const) {
        const p = join(dir, `${i}-${kind}`);
        if (kind === "dir") await mkdir(p);
        else await writeFile(p, "");
        await chmod(p, start);
        execFileSync("sh", ["-c", `umask 0 && chmod ${spec} "$1"`, "sh", p]);
        const expected = (await stat(p)).mode & 0o7777;
        expect(
          parseModeString(spec)
            .apply(start, kind === "dir")
            .toString(8),
          `${spec} on ${kind}`,
        ).toBe(expected.toString(8));
      }
    }
    expect(() => parseModeString("u+q")).toThrow(/invalid chmod mode/);
    expect(() => parseModeString("9")).toThrow(/invalid chmod mode/);
  });
});
