import { describe, expect, it } from "vitest";
import { cleanPath } from "./clean-path.js";
import { parseIgnoreFile } from "./ignore-file.js";
import { createIgnoreMatcher } from "./matcher.js";

const matcherFor = (file: string) => createIgnoreMatcher(parseIgnoreFile(file));

describe("parseIgnoreFile", () => {
  it("strips BOM, skips column-0 comments and blank lines, trims, cleans and un-roots", () => {
    const bytes = new TextEncoder().encode(
      "\uFEFF# comment\n  # not a comment\n\n  *.log  \r\n! keep.log\n/abs/dir/\n./a/../b//c\n/\n",
    );
    expect(parseIgnoreFile(bytes)).toEqual(["# not a comment", "*.log", "!keep.log", "abs/dir", "b/c", "/"]);
  });

  it("keeps a lone ! which the matcher then rejects", () => {
    expect(parseIgnoreFile("!\n")).toEqual(["!"]);
    expect(() => createIgnoreMatcher(["!"])).toThrow('illegal exclusion pattern: "!"');
  });
});

describe("Docker's documented examples", () => {
  it("*/temp*, */*/temp*, temp?", () => {
    const excluded = matcherFor("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
    expect(excluded("somedir/temporary.txt")).toBe(true);
    expect(excluded("somedir/temp", true)).toBe(true);
    expect(excluded("somedir/temp/inner.txt")).toBe(true);
    expect(excluded("somedir/subdir/temporary.txt")).toBe(true);
    expect(excluded("tempa")).toBe(true);
    expect(excluded("tempb")).toBe(true);
    expect(excluded("temporary.txt")).toBe(false);
    expect(excluded("tempab")).toBe(false);
    expect(excluded("a/b/c/temp.txt")).toBe(false);
  });

  it("**/*.go excludes Go files at any depth, the root included", () => {
    const excluded = matcherFor("**/*.go\n");
    expect(excluded("main.go")).toBe(true);
    expect(excluded("cmd/app/main.go")).toBe(true);
    expect(excluded("cmd/app/main.go.txt")).toBe(false);
    expect(excluded("go.mod")).toBe(false);
  });

  it("*.md with !README.md", () => {
    const excluded = matcherFor("*.md\n!README.md\n");
    expect(excluded("CHANGELOG.md")).toBe(true);
    expect(excluded("README.md")).toBe(false);
    expect(excluded("docs/guide.md")).toBe(false); // `*` does not cross directories
  });

  it("last match wins: README-secret.md after !README*.md stays excluded", () => {
    const excluded = matcherFor("*.md\n!README*.md\nREADME-secret.md\n");
    expect(excluded("README.md")).toBe(false);
    expect(excluded("README-dev.md")).toBe(false);
    expect(excluded("README-secret.md")).toBe(true);
    expect(excluded("NOTES.md")).toBe(true);
  });

  it("last match wins: !README*.md after README-secret.md includes all READMEs", () => {
    const excluded = matcherFor("*.md\nREADME-secret.md\n!README*.md\n");
    expect(excluded("README-secret.md")).toBe(false);
    expect(excluded("NOTES.md")).toBe(true);
  });
});

describe("directories", () => {
  it("excluding a directory excludes its contents unless an exception re-includes them", () => {
    const excluded = createIgnoreMatcher(["vendor", "!vendor/keep.txt", "node_modules/"]);
    expect(excluded("vendor", true)).toBe(true);
    expect(excluded("vendor/lib/x.js")).toBe(true);
    expect(excluded("vendor/keep.txt")).toBe(false);
    expect(excluded("node_modules/a/b")).toBe(true);
    expect(excluded.mightIncludeUnder("vendor")).toBe(true);
    expect(excluded.mightIncludeUnder("vendor/lib")).toBe(false);
    expect(excluded.mightIncludeUnder("node_modules")).toBe(false);
    expect(excluded.hasExceptions).toBe(true);
  });

  it("re-includes a whole subtree and prunes without exceptions", () => {
    const excluded = createIgnoreMatcher(["build", "!build/assets/**"]);
    expect(excluded("build/out.o")).toBe(true);
    expect(excluded("build/assets/logo.png")).toBe(false);
    expect(excluded.mightIncludeUnder("build")).toBe(true);
    expect(excluded.mightIncludeUnder("build/tmp")).toBe(false);
    expect(createIgnoreMatcher(["build"]).mightIncludeUnder("build")).toBe(false);
  });

  it("must descend anywhere when an exception has wildcards", () => {
    const excluded = createIgnoreMatcher(["*", "!**/*.keep"]);
    expect(excluded("a/b/c.txt")).toBe(true);
    expect(excluded("a/b/c.keep")).toBe(false);
    expect(excluded.mightIncludeUnder("a")).toBe(true);
  });

  it("never excludes the context root", () => {
    expect(createIgnoreMatcher(["*"])(".")).toBe(false);
    expect(createIgnoreMatcher(["**"])("./x")).toBe(true);
  });
});

describe("pattern syntax", () => {
  it.each([
    ["dir/**", "dir/a/b", true],
    ["dir/**", "dirx/a", false],
    ["**/foo", "foo", true],
    ["**/foo", "a/b/foo", true],
    ["**/foo", "a/xfoo", false],
    ["**foo", "a/xfoo", true],
    ["a/**/b", "a/b", true],
    ["a/**/b", "a/x/y/b", true],
    ["a/**/b", "a/x/yb", false],
    ["a?c", "abc", true],
    ["a?c", "a/c", false],
    ["[a-c]x", "bx", true],
    ["[^a-c]x", "dx", true],
    ["[^a-c]x", "ax", false],
    ["[\\]]", "]", true],
    ["\\*lit", "*lit", true],
    ["\\*lit", "xlit", false],
    ["a+b(c)", "a+b(c)", true],
    ["a.b", "axb", false],
    ["é*", "éa", true],
    ["**", "anything/at/all", true],
  ])("%s vs %s → %s", (pattern, path, expected) => {
    expect(createIgnoreMatcher([pattern])(path)).toBe(expected);
  });

  it.each(["[", "[]", "[a-]", "[-a]", "abc\\"])("rejects %j", (pattern) => {
    expect(() => createIgnoreMatcher([pattern])).toThrow(/syntax error in pattern/);
  });

  it("cleanPath matches Go path.Clean", () => {
    expect(["", ".", "a//b/./c/..", "/../x", "../../a", "a/../..", "/", "a/"].map(cleanPath)).toEqual([
      ".",
      ".",
      "a/b",
      "/x",
      "../../a",
      "..",
      "/",
      "a",
    ]);
  });
});
