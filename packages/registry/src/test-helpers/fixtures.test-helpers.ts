import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Descriptor, digestHex, MediaType, type Platform, sha256 } from "@kiln/core";
import { type BusyboxLayout, buildBusyboxLayout } from "../../../testkit/src/index.js";

const run = promisify(execFile);

export interface SkopeoAccess {
  /** `user:password` */
  readonly creds?: string;
  /** Directory with `ca.crt` to trust; without it TLS is not verified (and HTTP is allowed). */
  readonly certDir?: string;
}

const destFlags = (a: SkopeoAccess) => [
  ...(a.certDir ? [`--dest-cert-dir=${a.certDir}`] : ["--dest-tls-verify=false"]),
  ...(a.creds ? [`--dest-creds=${a.creds}`] : []),
];
const srcFlags = (a: SkopeoAccess) => [
  ...(a.certDir ? [`--cert-dir=${a.certDir}`] : ["--tls-verify=false"]),
  ...(a.creds ? [`--creds=${a.creds}`] : []),
];

/** `skopeo copy [--all] oci:<dir>:<tag> docker://<dest>` */
export async function skopeoPush(layoutDir: string, tag: string, dest: string, access: SkopeoAccess = {}) {
  await run("skopeo", [
    "copy",
    "--all",
    "--quiet",
    ...destFlags(access),
    `oci:${layoutDir}:${tag}`,
    `docker://${dest}`,
  ]);
}

/** The manifest digest skopeo sees for `docker://<ref>` (`skopeo inspect --raw`, hashed). */
export async function skopeoDigest(ref: string, access: SkopeoAccess = {}): Promise<string> {
  const { stdout } = await run("skopeo", ["inspect", "--raw", ...srcFlags(access), `docker://${ref}`], {
    encoding: "buffer",
    maxBuffer: 16 << 20,
  });
  return sha256(stdout);
}

/** `skopeo inspect` as JSON (config of the image for the host platform). */
export async function skopeoInspect(
  ref: string,
  access: SkopeoAccess = {},
): Promise<Record<string, unknown>> {
  const { stdout } = await run("skopeo", ["inspect", ...srcFlags(access), `docker://${ref}`]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

export interface MultiArchLayout extends BusyboxLayout {
  /** Descriptor of the index tagged `multi` (amd64 + arm64 entries). */
  readonly index: Descriptor;
  readonly amd64: Descriptor;
  readonly arm64: Descriptor;
  readonly arm64Config: Descriptor;
}

/**
 * The busybox fixture plus a hand-made arm64 image (same layer, config saying arm64) and an OCI index
 * of both, tagged `multi` in index.json (next to the single-platform tag).
 */
export async function buildMultiArchLayout(dir: string, tag = "single"): Promise<MultiArchLayout> {
  const base = await buildBusyboxLayout(dir, { tag });
  const blobs = join(dir, "blobs", "sha256");
  const put = async (mediaType: string, data: Buffer): Promise<Descriptor> => {
    const digest = sha256(data);
    await writeFile(join(blobs, digestHex(digest)), data);
    return { mediaType, digest, size: data.length };
  };
  const config = JSON.parse(await readFile(join(blobs, digestHex(base.config.digest)), "utf8"));
  const arm64Config = await put(
    MediaType.OciConfig,
    Buffer.from(JSON.stringify({ ...config, architecture: "arm64" })),
  );
  const manifestOf = (cfg: Descriptor) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: cfg,
        layers: [base.layer],
      }),
    );
  const amd64Blob = await put(MediaType.OciManifest, manifestOf(base.config));
  const arm64Blob = await put(MediaType.OciManifest, manifestOf(arm64Config));
  const amd64: Descriptor = {
    ...amd64Blob,
    platform: { os: "linux", architecture: config.architecture } as Platform,
  };
  const arm64: Descriptor = { ...arm64Blob, platform: { os: "linux", architecture: "arm64" } };
  const index = await put(
    MediaType.OciIndex,
    Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [amd64, arm64] }),
    ),
  );
  const top = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
  top.manifests.push({ ...index, annotations: { "org.opencontainers.image.ref.name": "multi" } });
  await writeFile(join(dir, "index.json"), JSON.stringify(top));
  return { ...base, index, amd64, arm64, arm64Config };
}

/** A blob of `size` pseudo-random bytes with its descriptor. */
export function randomBlob(size: number, seed = 1): { data: Buffer; desc: Descriptor } {
  const data = Buffer.alloc(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return { data, desc: { mediaType: MediaType.OciLayer, digest: sha256(data), size } };
}
