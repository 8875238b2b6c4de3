import { describe, expect, it } from "vitest";
import { parseCacheSpec } from "./parse-flags.js";

describe("parseCacheSpec (buildx --cache-to / --cache-from)", () => {
  it("reads type=…,k=v and lower-cases keys", () => {
    expect(parseCacheSpec("type=local,dest=out/cache,mode=max,Ignore-Error=true", "--cache-to")).toEqual({
      type: "local",
      attrs: { dest: "out/cache", mode: "max", "ignore-error": "true" },
    });
  });

  it("treats a bare value, or a ref without type, as a registry ref", () => {
    expect(parseCacheSpec("example.test/app:cache", "--cache-from")).toEqual({
      type: "registry",
      attrs: { ref: "example.test/app:cache" },
    });
    expect(parseCacheSpec("ref=example.test/app:cache,mode=max", "--cache-to")).toEqual({
      type: "registry",
      attrs: { ref: "example.test/app:cache", mode: "max" },
    });
  });

  it("requires a type otherwise", () => {
    expect(() => parseCacheSpec("dest=out", "--cache-to")).toThrow(/type is required/);
  });
});
