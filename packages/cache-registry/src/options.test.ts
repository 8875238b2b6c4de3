import { isKilnError, type KilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { registryCacheModule } from "./index.js";

const parse = (attrs: Record<string, string>) => registryCacheModule.parseAttrs(attrs, {});

function failure(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    expect(isKilnError(err, "INVALID_ARGUMENT"), String(err)).toBe(true);
    return err as KilnError;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

describe("registry parseAttrs", () => {
  it("canonicalises ref like BuildKit (docker.io/library, :latest) and fills defaults", () => {
    expect(parse({ ref: "app" })).toEqual({
      ref: "docker.io/library/app:latest",
      repository: "docker.io/library/app",
      tag: "latest",
      ociMediatypes: true,
      imageManifest: true,
      insecure: false,
    });
    expect(parse({ ref: "127.0.0.1:5000/team/app:buildcache" })).toMatchObject({
      ref: "127.0.0.1:5000/team/app:buildcache",
      repository: "127.0.0.1:5000/team/app",
      tag: "buildcache",
    });
  });

  it("reads oci-mediatypes, image-manifest, registry.insecure and the compression attributes", () => {
    const o = parse({
      type: "registry",
      mode: "max",
      "ignore-error": "true",
      ref: "r.example/app:c",
      "oci-mediatypes": "true",
      "image-manifest": "false",
      "registry.insecure": "true",
      compression: "zstd",
      "compression-level": "3",
      "force-compression": "true",
    });
    expect(o).toMatchObject({
      ociMediatypes: true,
      imageManifest: false,
      insecure: true,
      compression: { type: "zstd", level: 3, force: true },
    });
  });

  it("image-manifest follows oci-mediatypes=false unless set, and cannot be true without OCI types", () => {
    expect(parse({ ref: "a", "oci-mediatypes": "false" }).imageManifest).toBe(false);
    expect(
      failure(() => parse({ ref: "a", "oci-mediatypes": "false", "image-manifest": "true" })).message,
    ).toContain("image-manifest");
  });

  it("compression-level and force-compression alone apply to BuildKit's default, gzip; a bare force means true", () => {
    expect(parse({ ref: "a", "compression-level": "-1" }).compression).toEqual({ type: "gzip", level: -1 });
    expect(parse({ ref: "a", "force-compression": "" }).compression).toEqual({ type: "gzip", force: true });
    expect(parse({ ref: "a" }).compression).toBeUndefined();
  });

  it.each([
    [{}, "ref"],
    [{ ref: "docker.io/Upper" }, "ref"],
    [{ ref: "a:bad tag" }, "ref"],
    [{ ref: "a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }, "ref"],
    [{ ref: "a", "oci-mediatypes": "yes" }, "oci-mediatypes"],
    [{ ref: "a", "image-manifest": "2" }, "image-manifest"],
    [{ ref: "a", "registry.insecure": "sure" }, "registry.insecure"],
    [{ ref: "a", compression: "brotli" }, "compression"],
    [{ ref: "a", "compression-level": "high" }, "compression-level"],
    [{ ref: "a", "force-compression": "always" }, "force-compression"],
    [{ ref: "a", insecure: "true" }, "insecure"],
    [{ ref: "a", type: "s3" }, "type"],
  ])("refuses %j naming %s", (attrs, name) => {
    expect(failure(() => parse(attrs as Record<string, string>)).message).toContain(name);
  });

  it("the backend reports the tag as its pointer name", () => {
    const backend = registryCacheModule.backend(parse({ ref: "127.0.0.1:5000/app:pr-12" }));
    expect(backend.type).toBe("registry");
    expect((backend as unknown as { pointerNames: string[] }).pointerNames).toEqual(["pr-12"]);
    expect(backend.create().capabilities).toEqual({
      rangeReads: true,
      touch: false,
      conditionalPointers: false,
    });
  });
});
