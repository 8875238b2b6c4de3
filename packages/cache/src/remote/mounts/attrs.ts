import { KilnError } from "@kiln/core";

/** Default `cache-mounts-max-size`: the file bytes one export may carry (GHA's budget is 10 GB). */
export const DEFAULT_CACHE_MOUNTS_MAX_SIZE = 2 * 1024 ** 3;

/** kiln's own attributes, accepted on every backend and stripped before the backend parses the rest. */
export const CACHE_MOUNT_ATTRS = ["cache-mounts", "cache-mounts-max-size", "cache-mounts-ids"] as const;

export interface CacheMountOptions {
  /** Ids to export or import; undefined means all the build uses. */
  readonly ids?: ReadonlySet<string>;
  readonly maxSize: number;
}

/**
 * `cache-mounts=true` turns it on; `cache-mounts-max-size=2g` bounds an export; `cache-mounts-ids=a;b`
 * picks cache ids (the `id=` of the mount, or its target when it has none). Undefined when off.
 */
export function parseCacheMountAttrs(attrs: Readonly<Record<string, string>>): CacheMountOptions | undefined {
  const on = attrs["cache-mounts"];
  const enabled = on === undefined || on === "" ? false : /^(true|1|yes)$/i.test(on);
  if (on !== undefined && on !== "" && !enabled && !/^(false|0|no)$/i.test(on)) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `cache attribute cache-mounts=${JSON.stringify(on)}: expected true or false`,
      { hint: "cache-mounts=true exports/imports RUN --mount=type=cache contents with this cache" },
    );
  }
  const size = attrs["cache-mounts-max-size"];
  const ids = attrs["cache-mounts-ids"];
  if (!enabled) {
    if (size !== undefined || ids !== undefined) {
      throw new KilnError(
        "INVALID_ARGUMENT",
        "cache-mounts-max-size and cache-mounts-ids need cache-mounts=true",
        { hint: "add cache-mounts=true to the same --cache-to/--cache-from entry" },
      );
    }
    return undefined;
  }
  const list = ids?.split(";").filter((id) => id !== "");
  return {
    maxSize: size === undefined ? DEFAULT_CACHE_MOUNTS_MAX_SIZE : parseSize(size),
    ...(list && list.length > 0 ? { ids: new Set(list) } : {}),
  };
}

export function withoutCacheMountAttrs(attrs: Readonly<Record<string, string>>): Record<string, string> {
  const rest: Record<string, string> = { ...attrs };
  for (const name of CACHE_MOUNT_ATTRS) delete rest[name];
  return rest;
}

/** `1024`, `512k`, `100m`, `2g` (binary units, like docker's sizes), or `0`. */
export function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(value.trim());
  if (!m) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `cache attribute cache-mounts-max-size=${JSON.stringify(value)}: expected a size like 2g`,
      { hint: "bytes, or a number with k, m, g or t (binary units): 512m, 2g" },
    );
  }
  const power = " kmgt".indexOf((m[2] || " ").toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** power);
}
