import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeTempDir, type TempDir, writeTree } from "../../testkit/src/index.js";
import { cleanLayerPath, resolveInRoot } from "./resolve-in-root.js";

describe("resolveInRoot", () => {
  let tmp: TempDir;
  let root: string;
  beforeEach(async () => {
    tmp = await makeTempDir("resolve");
    root = join(tmp.path, "root");
    await mkdir(root);
    await writeTree(root, {
      "usr/lib/x": "x",
      lib: { type: "symlink", target: "usr/lib" },
      abs: { type: "symlink", target: "/usr/lib" },
      up: { type: "symlink", target: "../../../../usr" },
      host: { type: "symlink", target: "/etc" },
      loop1: { type: "symlink", target: "loop2" },
      loop2: { type: "symlink", target: "loop1" },
      "usr/lib/back": { type: "symlink", target: "../../lib" },
    });
  });
  afterEach(() => tmp.cleanup());

  it("follows relative and absolute symlinks inside the root", async () => {
    expect(await resolveInRoot(root, "lib/x")).toBe(join(root, "usr/lib/x"));
    expect(await resolveInRoot(root, "/abs/x")).toBe(join(root, "usr/lib/x"));
    expect(await resolveInRoot(root, "usr/lib/back/x")).toBe(join(root, "usr/lib/x"));
  });

  it("never leaves the root", async () => {
    expect(await resolveInRoot(root, "../../..")).toBe(root);
    expect(await resolveInRoot(root, "up/lib")).toBe(join(root, "usr/lib"));
    expect(await resolveInRoot(root, "host/passwd")).toBe(join(root, "etc/passwd"));
  });

  it("appends components that do not exist yet", async () => {
    expect(await resolveInRoot(root, "lib/new/dir")).toBe(join(root, "usr/lib/new/dir"));
    expect(await resolveInRoot(root, "missing/../lib")).toBe(join(root, "usr/lib"));
  });

  it("gives up on symlink loops", async () => {
    await expect(resolveInRoot(root, "loop1/x")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe("cleanLayerPath", () => {
  it("normalises relative paths", () => {
    expect(cleanLayerPath("./etc/passwd")).toBe("etc/passwd");
    expect(cleanLayerPath("etc//x/../passwd")).toBe("etc/passwd");
    expect(cleanLayerPath("dir/")).toBe("dir");
    expect(cleanLayerPath("./")).toBe("");
  });
  it("refuses absolute and escaping paths", () => {
    expect(() => cleanLayerPath("/etc/passwd")).toThrow(/absolute/);
    expect(() => cleanLayerPath("a/../../b")).toThrow(/escapes the root/);
  });
});
