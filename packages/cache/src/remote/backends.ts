import { resolve } from "node:path";
import { type CacheBackendModule, KilnError } from "@kiln/core";
import { createLocalBlobStore } from "./local-store.js";

/** Attributes every exporter accepts (BuildKit's generic ones), whatever its backend. */
export const GENERIC_EXPORT_ATTRS = [
  "mode",
  "ignore-error",
  "compression",
  "compression-level",
  "force-compression",
  "oci-mediatypes",
  "image-manifest",
] as const;

export interface LocalCacheOptions {
  readonly dir: string;
}

const LOCAL_ATTRS = new Set<string>(["dest", "src", "tag", "digest", "reset", ...GENERIC_EXPORT_ATTRS]);

/** `type=local`: `dest=DIR` to export, `src=DIR` to import (an OCI layout directory). */
export const localCacheModule: CacheBackendModule<LocalCacheOptions> = {
  type: "local",
  parseAttrs(attrs) {
    rejectUnknown("local", attrs, LOCAL_ATTRS);
    if (attrs.reset !== undefined && attrs.reset !== "false") {
      throw new KilnError("NOT_IMPLEMENTED", "cache type=local: reset=true is not supported yet", {
        hint: "remove the directory before exporting to start it afresh",
      });
    }
    const dir = attrs.dest ?? attrs.src;
    if (!dir) {
      throw new KilnError(
        "INVALID_ARGUMENT",
        "cache type=local needs dest=DIR (--cache-to) or src=DIR (--cache-from)",
      );
    }
    return { dir: resolve(dir) };
  },
  backend(options) {
    return { type: "local", options, create: () => createLocalBlobStore(options.dir) };
  },
};

/**
 * The name of the pointer (cache index) a backend reads and writes, from BuildKit's attributes:
 * local `tag` (default `latest`), registry the ref's tag, s3 `name` (`;`-separated: export writes
 * each, import reads the first), gha and others `scope` (default `buildkit`).
 */
export function pointerNames(type: string, attrs: Readonly<Record<string, string>>): string[] {
  switch (type) {
    case "local":
      return [attrs.tag || "latest"];
    case "registry": {
      const ref = attrs.ref ?? "";
      const name = ref.replace(/@sha256:[a-f0-9]{64}$/, "");
      const colon = name.lastIndexOf(":");
      return [colon > name.lastIndexOf("/") ? name.slice(colon + 1) : "latest"];
    }
    case "s3":
    case "azblob":
      return (attrs.name || "buildkit").split(";").filter((n) => n !== "");
    default:
      return [attrs.scope || "buildkit"];
  }
}

export function rejectUnknown(
  type: string,
  attrs: Readonly<Record<string, string>>,
  known: ReadonlySet<string>,
) {
  for (const key of Object.keys(attrs)) {
    if (key === "type" || known.has(key)) continue;
    throw new KilnError("INVALID_ARGUMENT", `cache type=${type}: unknown attribute ${JSON.stringify(key)}`, {
      hint: `known attributes: ${[...known].sort().join(", ")}`,
    });
  }
}
