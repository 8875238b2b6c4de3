import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type CallOptions, type Descriptor, throwIfAborted } from "@kiln/core";
import { OCI_LAYOUT_JSON } from "./archive-writer.js";
import { type ImageContent, openVerified, planContent } from "./blob-sources.js";
import { errno } from "./content-store.js";
import { encodeIndex } from "./json.js";
import { Annotation, blobRelativePath, type ImageIndex } from "./types.js";

export interface LayoutDirOptions extends CallOptions {
  /**
   * Keep the images an existing index.json lists (default true). Entries whose name annotation is
   * used by a new entry are replaced, so re-exporting a tag moves it instead of duplicating it.
   */
  readonly merge?: boolean;
}

/**
 * Writes (or adds to) an OCI image layout directory. Blobs already present are kept; new ones are
 * written to a temp file, verified and renamed into place; index.json is replaced atomically last, so a
 * reader sees either the old or the new index, and every blob the index names exists.
 */
export async function writeOciLayoutDir(
  dir: string,
  content: ImageContent,
  o: LayoutDirOptions = {},
): Promise<ImageIndex> {
  const plan = await planContent(content, o);
  const blobsDir = join(dir, "blobs", "sha256");
  await mkdir(blobsDir, { recursive: true });
  for (const { descriptor, bytes } of plan.blobs.values()) {
    throwIfAborted(o.signal);
    const target = join(dir, blobRelativePath(descriptor.digest));
    if ((await sizeOf(target)) === descriptor.size) continue;
    const source = bytes ? Readable.from([bytes]) : await openVerified(content.blobs, descriptor, o);
    await atomicWrite(target, source, o);
  }
  const index = o.merge === false ? content.index : await mergeIndex(dir, content.index);
  await atomicWrite(join(dir, "oci-layout"), Readable.from([OCI_LAYOUT_JSON]), o);
  await atomicWrite(join(dir, "index.json"), Readable.from([encodeIndex(index)]), o);
  return index;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw err;
  }
}

async function atomicWrite(target: string, source: Readable, o: CallOptions): Promise<void> {
  const tmp = `${target}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    await pipeline(
      source,
      createWriteStream(tmp, { flags: "wx", mode: 0o644, flush: true }),
      o.signal ? { signal: o.signal } : {},
    );
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
}

function namesOf(d: Descriptor): string[] {
  return [d.annotations?.[Annotation.ContainerdImageName], d.annotations?.[Annotation.RefName]].filter(
    (n): n is string => typeof n === "string" && n !== "",
  );
}

async function mergeIndex(dir: string, next: ImageIndex): Promise<ImageIndex> {
  let previous: ImageIndex | undefined;
  try {
    previous = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as ImageIndex;
  } catch (err) {
    if (errno(err) === "ENOENT") return next;
    if (err instanceof SyntaxError) {
      // A corrupt index cannot be merged; the new one replaces it (the blobs stay on disk).
      return next;
    }
    throw err;
  }
  if (!Array.isArray(previous?.manifests)) return next;
  const taken = new Set(next.manifests.flatMap((d) => namesOf(d)));
  const newDigests = new Set(next.manifests.filter((d) => namesOf(d).length === 0).map((d) => d.digest));
  const kept = previous.manifests.filter((d) => {
    const names = namesOf(d);
    if (names.length === 0) return !newDigests.has(d.digest);
    // An entry is superseded when its identifying name (the full name if any, else the tag) is reused.
    const identity = d.annotations?.[Annotation.ContainerdImageName] ?? names[0];
    return identity === undefined || !taken.has(identity);
  });
  return { ...next, manifests: [...kept, ...next.manifests] };
}
