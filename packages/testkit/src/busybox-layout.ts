import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  DEFAULT_PATH_ENV,
  type Descriptor,
  type Digest,
  digestHex,
  hostPlatform,
  type ImageConfig,
  KilnError,
  MediaType,
  sha256,
} from "@kiln/core";
import tarStream from "tar-stream";

export interface BusyboxLayoutOptions {
  /** Written as `org.opencontainers.image.ref.name` in index.json. */
  readonly tag: string;
  /** The static busybox binary to package; default `/bin/busybox` (Debian's busybox-static). */
  readonly busybox?: string;
}

export interface BusyboxLayout {
  readonly dir: string;
  readonly tag: string;
  /** The manifest's descriptor as listed in index.json. */
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layer: Descriptor;
  readonly diffId: Digest;
}

/** Applets linked to busybox in the fixture; all exist in Debian's busybox-static. */
export const BUSYBOX_APPLETS: readonly string[] = (
  "cat chmod chown cp echo env false grep head id ln ls mkdir mv printf pwd rm sed sh sleep sort tail test " +
  "touch true uname wc whoami"
).split(" ");

/** Every timestamp in the fixture, so the same busybox binary always gives the same digests. */
const FIXED_TIME = new Date("2024-01-01T00:00:00Z");

const PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP = "root:x:0:\nnogroup:x:65534:\n";

/**
 * Writes a one-layer OCI image layout with busybox into `dir` (created if needed): `oci-layout`,
 * `index.json` (tagged `tag`), and under `blobs/sha256/` a gzip layer (`bin/busybox`, applet symlinks
 * `bin/<applet> -> busybox`, `etc/passwd`, `etc/group`, `tmp/` 1777), an image config for the host
 * architecture (`Env` PATH default, `Cmd ["sh"]`) and the manifest. Deterministic: fixed mtimes, owner
 * 0:0, sorted entries; only the busybox binary and the host architecture change the digests.
 */
export async function buildBusyboxLayout(dir: string, options: BusyboxLayoutOptions): Promise<BusyboxLayout> {
  const busyboxPath = options.busybox ?? "/bin/busybox";
  const busybox = await readFile(busyboxPath).catch((err: unknown) => {
    throw new KilnError(
      "FAILED_PRECONDITION",
      `buildBusyboxLayout needs ${busyboxPath}, which cannot be read`,
      {
        cause: err,
        hint: "install Debian's busybox-static package (scripts/setup.sh does: apt-get install busybox-static)",
      },
    );
  });
  const tar = await layerTar(busybox);
  const diffId = sha256(tar);
  const blobs = join(dir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const putBlob = async (mediaType: string, data: Buffer): Promise<Descriptor> => {
    const digest = sha256(data);
    await writeFile(join(blobs, digestHex(digest)), data);
    return { mediaType, digest, size: data.length };
  };

  const layer = await putBlob(MediaType.OciLayerGzip, gzipSync(tar, { level: 9 }));
  const platform = hostPlatform();
  const imageConfig: ImageConfig = {
    created: FIXED_TIME.toISOString(),
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: "linux",
    config: { Env: [DEFAULT_PATH_ENV], Cmd: ["sh"] },
    rootfs: { type: "layers", diff_ids: [diffId] },
    history: [{ created: FIXED_TIME.toISOString(), created_by: "kiln testkit: busybox fixture" }],
  };
  const config = await putBlob(MediaType.OciConfig, json(imageConfig));
  const manifestBlob = await putBlob(
    MediaType.OciManifest,
    json({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] }),
  );
  const manifest: Descriptor = {
    ...manifestBlob,
    annotations: { "org.opencontainers.image.ref.name": options.tag },
    platform: {
      architecture: imageConfig.architecture,
      os: "linux",
      ...(platform.variant ? { variant: platform.variant } : {}),
    },
  };
  await writeFile(
    join(dir, "index.json"),
    json({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [manifest] }),
  );
  await writeFile(join(dir, "oci-layout"), json({ imageLayoutVersion: "1.0.0" }));
  return { dir, tag: options.tag, manifest, config, layer, diffId };
}

async function layerTar(busybox: Buffer): Promise<Buffer> {
  type Entry = Partial<tarStream.Header> & { name: string; body?: Buffer };
  const entries: Entry[] = [
    { name: "bin/", type: "directory", mode: 0o755 },
    { name: "bin/busybox", type: "file", mode: 0o755, body: busybox },
    ...[...BUSYBOX_APPLETS]
      .sort()
      .map((a): Entry => ({ name: `bin/${a}`, type: "symlink", mode: 0o777, linkname: "busybox" })),
    { name: "etc/", type: "directory", mode: 0o755 },
    { name: "etc/group", type: "file", mode: 0o644, body: Buffer.from(GROUP) },
    { name: "etc/passwd", type: "file", mode: 0o644, body: Buffer.from(PASSWD) },
    { name: "tmp/", type: "directory", mode: 0o1777 },
  ];
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  })();
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      const full = { uid: 0, gid: 0, uname: "", gname: "", mtime: FIXED_TIME, ...header };
      if (body) pack.entry(full, body, done);
      else pack.entry(full, done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
