import { describe, expect, it } from "vitest";
import { mountedPath } from "./mounts.js";

describe("mountedPath", () => {
  it("returns the source of a single bind mount without mounting", async () => {
    const m = await mountedPath([{ type: "bind", source: "/some/dir", options: ["rbind", "ro"] }]);
    expect(m.path).toBe("/some/dir");
    expect(m.readOnly).toBe(true);
    await m.release();
    await m.release();
  });

  it("reports overlay and multi-mount shapes as not implemented yet", async () => {
    const overlay = {
      type: "overlay",
      source: "overlay",
      options: ["lowerdir=/a:/b", "upperdir=/u", "workdir=/w"],
    };
    await expect(mountedPath([overlay])).rejects.toMatchObject({ code: "NOT_IMPLEMENTED" });
    await expect(mountedPath([])).rejects.toMatchObject({ code: "NOT_IMPLEMENTED" });
  });
});
