import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { type ContentStore, type Descriptor, MediaType, type Platform, sha256 } from "@kiln/core";
import { gzipStream } from "./gzip.js";
import { encodeIndex, encodeManifest } from "./json.js";
import type { ImageIndex, ImageManifest } from "./types.js";

export function tempDir(prefix = "kiln-oci-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A real gzip layer made by GNU tar from `files`, stored in `store`. */
export async function makeLayer(
  store: ContentStore,
  files: Record<string, string>,
): Promise<{ blob: Descriptor; diffId: string }> {
  const dir = tempDir("kiln-layer-");
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  const tarBytes = execFileSync(
    "tar",
    ["-C", dir, "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-cf", "-", "."],
    {
      maxBuffer: 1 << 26,
    },
  );
  const gz = await store.write(Readable.from([tarBytes]).pipe(gzipStream()));
  return {
    blob: { mediaType: MediaType.OciLayerGzip, digest: gz.digest, size: gz.size },
    diffId: `sha256:${createHash("sha256").update(tarBytes).digest("hex")}`,
  };
}

export interface StoredImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: Descriptor[];
}

/** A single-platform image (config + manifest) with one layer per file map. */
export async function makeImage(
  store: ContentStore,
  layers: Record<string, string>[],
  platform: Platform = { os: "linux", architecture: "amd64" },
  env: string[] = ["PATH=/usr/bin:/bin", "HELLO=world"],
): Promise<StoredImage> {
  const made = [];
  for (const files of layers) made.push(await makeLayer(store, files));
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Env: env, Cmd: ["/bin/sh"] },
      rootfs: { type: "layers", diff_ids: made.map((l) => l.diffId) },
    }),
  );
  const config = await store.write(configBytes);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: config.digest, size: config.size },
    layers: made.map((l) => l.blob),
  };
  const m = await store.write(encodeManifest(manifest));
  return {
    manifest: { mediaType: MediaType.OciManifest, digest: m.digest, size: m.size, platform },
    config: manifest.config,
    layers: made.map((l) => l.blob),
  };
}

export function indexOf(entries: Descriptor[]): ImageIndex {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: entries };
}

export function named(desc: Descriptor, fullName: string, tag: string): Descriptor {
  const { platform: _platform, ...rest } = desc;
  return {
    ...rest,
    annotations: { "io.containerd.image.name": fullName, "org.opencontainers.image.ref.name": tag },
  };
}

/** Writes a raw OCI layout directory by hand (for reader tests that need broken layouts). */
export function writeRawLayout(dir: string, store: ContentStore, index: ImageIndex, digests: string[]): void {
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  writeFileSync(join(dir, "index.json"), encodeIndex(index));
  for (const d of digests) {
    writeFileSync(
      join(dir, "blobs", "sha256", d.slice(7)),
      readFileSync(store.path(d as `sha256:${string}`)),
    );
  }
}

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "pipe"] });
}

export { sha256 };
