import type { Descriptor } from "@kiln/core";
import { parseImageName } from "./reference.js";
import { Annotation } from "./types.js";

function tagOf(name: string): string | undefined {
  const withoutDigest = name.split("@")[0] ?? name;
  const colon = withoutDigest.lastIndexOf(":");
  return colon > withoutDigest.lastIndexOf("/") ? withoutDigest.slice(colon + 1) : undefined;
}

function normalised(name: string): string | undefined {
  try {
    return parseImageName(name).full;
  } catch {
    return undefined;
  }
}

/**
 * How well an index.json entry answers to `ref` (0 best), undefined when it does not. Tools name entries
 * differently: OCI tools put a tag in `org.opencontainers.image.ref.name` (`latest`), some put a full name
 * there, containerd and Docker add `io.containerd.image.name` (`docker.io/library/hello:latest`).
 * `ref` may be a tag or a name; an exact match beats a tag match, which beats a normalised-name match.
 */
export function nameMatchRank(entry: Descriptor, ref: string): number | undefined {
  const names = [
    entry.annotations?.[Annotation.RefName],
    entry.annotations?.[Annotation.ContainerdImageName],
  ].filter((n): n is string => typeof n === "string" && n !== "");
  if (names.includes(ref)) return 0;
  if (names.some((n) => tagOf(n) === ref)) return 1;
  const wanted = normalised(ref);
  if (
    wanted !== undefined &&
    names.some((n) => (n.includes("/") || n.includes(":")) && normalised(n) === wanted)
  )
    return 2;
  return undefined;
}

/** Entries of `entries` that answer to `ref`, keeping only the best kind of match. */
export function matchEntries(entries: readonly Descriptor[], ref: string): Descriptor[] {
  const ranked = entries.map((entry) => ({ entry, rank: nameMatchRank(entry, ref) }));
  const best = Math.min(...ranked.map((r) => r.rank ?? Number.POSITIVE_INFINITY));
  return ranked.filter((r) => r.rank === best).map((r) => r.entry);
}
