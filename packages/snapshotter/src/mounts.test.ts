import { describe, expect, it } from "vitest";
import { MAX_MOUNT_DATA, mountedPath, overlayMountData, parseOverlayOptions } from "./mounts.js";

describe("mountedPath", () => {
  it("returns the source of a single bind mount without mounting", async () => {
    const m = await mountedPath([{ type: "bind", source: "/some/dir", options: ["rbind", "ro"] }]);
    expect(m.path).toBe("/some/dir");
    expect(m.readOnly).toBe(true);
    await m.release();
    await m.release();
  });

  it("reports shapes other than one bind or one overlay as not implemented", async () => {
    const bind = { type: "bind", source: "/a", options: ["rbind", "rw"] };
    await expect(mountedPath([bind, bind])).rejects.toMatchObject({ code: "NOT_IMPLEMENTED" });
    await expect(mountedPath([])).rejects.toMatchObject({ code: "NOT_IMPLEMENTED" });
  });
});

describe("overlay mount options", () => {
  it("parses lowerdirs (topmost first), upperdir and workdir", () => {
    expect(parseOverlayOptions(["lowerdir=/a:/b", "upperdir=/u", "workdir=/w"])).toEqual({
      lowerdirs: ["/a", "/b"],
      upperdir: "/u",
      workdir: "/w",
    });
    expect(parseOverlayOptions(["lowerdir=/a:/b", "ro"])).toEqual({ lowerdirs: ["/a", "/b"] });
  });

  it("keeps short options as they are and makes long lowerdirs relative to their common directory", () => {
    expect(overlayMountData(["lowerdir=/r/l/a:/r/l/b", "ro"])).toEqual({ data: "lowerdir=/r/l/a:/r/l/b,ro" });
    const root = `/var/lib/${"x".repeat(60)}`;
    const links = Array.from({ length: 128 }, (_, i) => `${root}/l/${String(i).padStart(11, "0")}`);
    const { data, cwd } = overlayMountData([
      `lowerdir=${links.join(":")}`,
      `upperdir=${root}/u`,
      `workdir=${root}/w`,
    ]);
    expect(cwd).toBe(`${root}/l`);
    expect(data.length).toBeLessThanOrEqual(MAX_MOUNT_DATA);
    expect(data.startsWith("lowerdir=00000000000:00000000001:")).toBe(true);
    expect(data.endsWith(`,upperdir=${root}/u,workdir=${root}/w`)).toBe(true);
  });

  it("refuses chains too long even for relative lowerdirs", () => {
    const links = Array.from({ length: 400 }, (_, i) => `/r/l/${String(i).padStart(11, "0")}`);
    expect(() => overlayMountData([`lowerdir=${links.join(":")}`, "ro"])).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
