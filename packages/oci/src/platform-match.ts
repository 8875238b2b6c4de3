import { formatPlatform, normalizePlatform, type Platform } from "@kiln/core";

/*
 * Choosing a manifest from an index for a wanted platform. Platforms are compared after core's
 * normalisation (so arm64 == arm64/v8, x86_64 == amd64). Like containerd's default matcher, a platform
 * also accepts older variants of compatible architectures, best first:
 *   amd64/v3 → amd64/v3, amd64/v2, amd64, 386
 *   arm/v7   → arm/v7, arm/v6, arm/v5
 *   arm64    → arm64, arm/v8, arm/v7, arm/v6, arm/v5
 */

function variantNumber(variant: string | undefined): number | undefined {
  const m = /^v(\d+)$/.exec(variant ?? "");
  return m ? Number(m[1]) : undefined;
}

/** Platforms acceptable for `wanted`, in order of preference (all normalised). */
export function compatiblePlatforms(wanted: Platform): Platform[] {
  const p = normalizePlatform(wanted);
  const out: Platform[] = [p];
  const os = p.os;
  const n = variantNumber(p.variant);
  switch (p.architecture) {
    case "amd64":
      for (let v = (n ?? 1) - 1; v >= 1; v--)
        out.push(normalizePlatform({ os, architecture: "amd64", variant: `v${v}` }));
      out.push({ os, architecture: "386" });
      break;
    case "arm":
      for (let v = (n ?? 7) - 1; v >= 5; v--) out.push({ os, architecture: "arm", variant: `v${v}` });
      break;
    case "arm64":
      for (let v = 8; v >= 5; v--) out.push({ os, architecture: "arm", variant: `v${v}` });
      break;
  }
  return out;
}

/**
 * Ranks `candidate` for `wanted`: 0 is an exact match, higher is a worse fallback, undefined is no match.
 * A candidate without os.version matches any wanted os.version (only Windows sets it).
 */
export function platformRank(wanted: Platform, candidate: Platform): number | undefined {
  const c = normalizePlatform(candidate);
  const key = formatPlatform(c);
  const list = compatiblePlatforms(wanted);
  const index = list.findIndex((p) => formatPlatform(p) === key);
  return index >= 0 ? index : undefined;
}

/** Picks the best-matching item for `wanted`; undefined when none matches. Ties keep the first. */
export function pickPlatform<T>(
  wanted: Platform,
  items: readonly T[],
  platformOf: (item: T) => Platform | undefined,
): T | undefined {
  let best: { item: T; rank: number } | undefined;
  for (const item of items) {
    const platform = platformOf(item);
    if (!platform) continue;
    const rank = platformRank(wanted, platform);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { item, rank };
  }
  return best?.item;
}
