import type { Writable } from "node:stream";
import { type CallOptions, isManifestMediaType } from "@kiln/core";
import { type ContentPlan, type ImageContent, openVerified, planContent } from "./blob-sources.js";
import { encodeIndex } from "./json.js";
import { parseImageName } from "./reference.js";
import { packTar, type TarEntry } from "./tar-pack.js";
import { Annotation, blobRelativePath, type DockerManifestEntry, OCI_LAYOUT_VERSION } from "./types.js";

export interface ArchiveOptions extends CallOptions {
  /** mtime of every entry in seconds (SOURCE_DATE_EPOCH); 0 when omitted. */
  readonly mtime?: number;
  /** End `out` when done (default true; false for process.stdout). */
  readonly end?: boolean;
}

const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

export const OCI_LAYOUT_JSON = Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }));

/**
 * Writes an OCI image layout as a tar stream (`oci-archive:` for skopeo, `docker load` since Docker 25).
 * Entries are sorted, owned by 0:0 without user names, 0644/0755, all with the same mtime, so the
 * same content always gives the same bytes. Blobs are streamed and verified against their descriptors.
 */
export async function writeOciArchive(
  out: Writable,
  content: ImageContent,
  o: ArchiveOptions = {},
): Promise<void> {
  const plan = await planContent(content, o);
  await packTar(out, archiveEntries(content, plan, {}, o), o);
}

/**
 * Writes an OCI layout tar that also carries Docker's `manifest.json`, so both `docker load` (any
 * version) and OCI tools read it. RepoTags come from the `io.containerd.image.name` annotations of
 * index.json entries; entries that are indexes (multi-platform) get no manifest.json line.
 */
export async function writeDockerArchive(
  out: Writable,
  content: ImageContent,
  o: ArchiveOptions = {},
): Promise<void> {
  const plan = await planContent(content, o);
  const manifestJson = Buffer.from(JSON.stringify(dockerManifestEntries(plan)));
  await packTar(out, archiveEntries(content, plan, { "manifest.json": manifestJson }, o), o);
}

/** Docker `manifest.json` lines: one per image manifest listed directly in index.json. */
export function dockerManifestEntries(plan: ContentPlan): DockerManifestEntry[] {
  const byDigest = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  for (const image of plan.images) {
    if (!isManifestMediaType(image.entry.mediaType) || image.entry.digest !== image.digest) continue;
    let line = byDigest.get(image.digest);
    if (!line) {
      line = {
        Config: blobRelativePath(image.manifest.config.digest),
        RepoTags: [],
        Layers: image.manifest.layers.map((l) => blobRelativePath(l.digest)),
      };
      byDigest.set(image.digest, line);
    }
    const tag = repoTag(image.entry.annotations?.[Annotation.ContainerdImageName]);
    if (tag !== undefined && !line.RepoTags.includes(tag)) line.RepoTags.push(tag);
  }
  return [...byDigest.values()];
}

function repoTag(name: string | undefined): string | undefined {
  if (!name) return undefined;
  try {
    const parsed = parseImageName(name);
    // RepoTags hold familiar `name:tag` strings; a digest-only name is not a tag.
    return parsed.tag === undefined ? undefined : parsed.familiar.split("@")[0];
  } catch {
    return undefined;
  }
}

function archiveEntries(
  content: ImageContent,
  plan: ContentPlan,
  extraFiles: Record<string, Buffer>,
  o: ArchiveOptions,
): TarEntry[] {
  const mtime = o.mtime ?? 0;
  const file = (name: string, bytes: Buffer): TarEntry => ({
    name,
    type: "file",
    mode: FILE_MODE,
    mtime,
    body: bytes,
  });
  const blobs: TarEntry[] = [...plan.blobs.values()].map(({ descriptor, bytes }) => ({
    name: blobRelativePath(descriptor.digest),
    type: "file",
    mode: FILE_MODE,
    mtime,
    size: descriptor.size,
    body: bytes ?? (() => openVerified(content.blobs, descriptor, o)),
  }));
  const entries: TarEntry[] = [
    { name: "blobs/", type: "directory", mode: DIR_MODE, mtime },
    { name: "blobs/sha256/", type: "directory", mode: DIR_MODE, mtime },
    ...blobs,
    file("index.json", encodeIndex(content.index)),
    file("oci-layout", OCI_LAYOUT_JSON),
    ...Object.entries(extraFiles).map(([name, bytes]) => file(name, bytes)),
  ];
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
