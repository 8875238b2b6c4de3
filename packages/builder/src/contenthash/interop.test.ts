import { sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { type Spec, tree } from "../fileop/tree.test-helpers.js";
import { createContentHasher } from "./index.js";

// Digests BuildKit's own contenthash test-suite expects for the same trees (files 0644, directories
// 0755, owned by 0:0): they pin kiln's implementation to BuildKit's byte-exact algorithm.
const FILE_DATA0 = "sha256:cd8e75bca50f2d695f220d0cb0997d8ead387e4f926e8669a92d7f104cc9885b";
const DIR_D0 = "sha256:d47454417d2c554067fbefe5f5719edc49f3cfe969c36b62e34a187a4da0cc9a";
const DIR_D0_FILE_BY_FILE = "sha256:6b612ad5c13159112ae26357ef7bd34df29916941ba40ec2ce38dfb70c6c60c3";
const DIR_D0_MODIFIED = "sha256:555ffa3028630d97ba37832b749eda85ab676fd64ffb629fbf0f4ec8c1e3bff1";
const DOUBLE_STAR = "sha256:aa7448215bbf5b837b35ce64467857d8b9747965573d14d4b31b370586370971";

const hasher = createContentHasher();
const sum = (root: string, path: string, o: Record<string, unknown> = {}) =>
  hasher.checksum({ root }, { path, ...o });

describe("contenthash interoperability with BuildKit", () => {
  it("hashes files, directories and the root like BuildKit", async () => {
    const root = await tree({
      foo: "data0",
      bar: "data1",
      d0: { dir: true },
      "d0/abc": "data0",
      "d0/def": { link: "abc" },
      "d0/ghi": { link: "nosuchfile" },
    });
    expect(await sum(root, "foo", { followLinks: true })).toBe(FILE_DATA0);
    expect(await sum(root, "bar", { followLinks: true })).toBe(
      "sha256:c2b5e234f5f38fc5864da7def04782f82501a40d46192e4207d5b3f0c3c4732b",
    );
    expect(await sum(root, "d0/abc", { followLinks: true })).toBe(FILE_DATA0);
    expect(await sum(root, "d0/def", { followLinks: true })).toBe(FILE_DATA0);
    await expect(sum(root, "d0/ghi", { followLinks: true })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(sum(root, "nosuch", { followLinks: true })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await sum(root, "d0", { followLinks: true })).toBe(DIR_D0);
    expect(await sum(root, "/", { followLinks: true })).toBe(
      "sha256:427c9cf9ae98c0f81fb57a3076b965c7c149b6b0a85625ad4e884236649a42c6",
    );
    const same = await tree({ abc: "data0", def: { link: "abc" }, ghi: { link: "nosuchfile" } });
    expect(await sum(same, "/")).toBe(DIR_D0);
    const modified = await tree({ abc: "data0", def: { link: "abc" } });
    expect(await sum(modified, "/")).toBe(DIR_D0_MODIFIED);
  });

  it("hashes wildcard selections like BuildKit", async () => {
    const root = await tree({
      bar: "data1",
      foo: "data0",
      fox: "data2",
      x: { dir: true },
      "x/d0": { dir: true },
      "x/d0/abc": "data0",
      "x/d0/def": { link: "abc" },
      "x/d0/ghi": { link: "nosuchfile" },
      y1: { link: "foo" },
      y2: { link: "fox" },
    });
    expect(await sum(root, "f*o", { wildcard: true })).toBe(sha256(`\0foo${FILE_DATA0}`));
    expect(await sum(root, "f*", { wildcard: true })).toBe(
      "sha256:0b6731924f0a32a812bf8a729202e55e54ded331f9e4ff2397f681e43694e086",
    );
    expect(await sum(root, "x/d?", { wildcard: true })).toBe(DIR_D0_FILE_BY_FILE);
    expect(await sum(root, "x/d?/def", { wildcard: true, followLinks: true })).toBe(FILE_DATA0);
    expect(await sum(root, "y*", { wildcard: true, followLinks: true })).toBe(
      "sha256:982153600b9653a1decb0f961e09e2bc1be335cfcaac9b39dbd1120b65fdf92c",
    );
  });

  it("treats symlinks in selections like BuildKit", async () => {
    const root = await tree({
      target: "data0",
      sym: { link: "target" },
      sym2: { link: "target2" },
      foo: { dir: true },
      "foo/ghi": { link: "target" },
      y1: { link: "foo/ghi" },
    });
    const sym = "sha256:a2ba571981f48ec34eb79c9a3ab091b6491e825c2f7e9914ea86e8e958be7fae";
    expect(await sum(root, "sym", { wildcard: true })).toBe(sym);
    expect(await sum(root, "sym2", { wildcard: true })).not.toBe(sym);
    expect(await sum(root, "foo/ghi", { wildcard: true })).toBe(sym);
    await expect(sum(root, "foo/ghi", { wildcard: true, followLinks: true })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(sum(root, "y1", { wildcard: true, followLinks: true })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    expect(await sum(root, "sym")).toBe(sym);
    expect(await sum(root, "foo/ghi")).toBe(sym);
    const foo = "sha256:9b761577efcb1239cf4be971914c5d7404914dd32ff436401af1764dc5446b83";
    expect(await sum(root, "foo", { followLinks: true })).toBe(foo);
    expect(await sum(root, "fo?", { wildcard: true, followLinks: true })).toBe(
      "sha256:2797e710c6d1a89ff2d91c834b828b1dc500f2982430a58241df8e146f4c4bb4",
    );
    expect(await sum(root, "foo", { followLinks: true, excludePatterns: ["*.git"] })).toBe(foo);
  });

  it("handles ** include patterns like BuildKit", async () => {
    const dirs: Record<string, Spec> = {
      prefix: { dir: true },
      "prefix/a": { dir: true },
      "prefix/a/b": { dir: true },
      "prefix/a/b/c": { dir: true },
    };
    const empty = await tree(dirs);
    for (const wildcard of [false, true]) {
      expect(await sum(empty, "prefix/a", { includePatterns: ["**/foo/**"], wildcard })).toBe(sha256(""));
    }
    const full = await tree({ ...dirs, "prefix/a/b/c/foo": { dir: true }, "prefix/a/b/c/foo/bar": "abc" });
    for (const wildcard of [false, true]) {
      for (const includePatterns of [
        ["**/foo/**", "**/report"],
        ["**/foo", "**/report"],
      ]) {
        expect(await sum(full, "prefix/a", { includePatterns, wildcard })).toBe(DOUBLE_STAR);
      }
    }
  });
});
