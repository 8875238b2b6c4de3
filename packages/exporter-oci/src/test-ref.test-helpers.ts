import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import {
  type ContentStore,
  type ExportRequest,
  type ImageConfig,
  type ImmutableRef,
  type Layer,
  MediaType,
  noopProgress,
  type ProgressEvent,
} from "@kiln/core";
import { gzipStream } from "@kiln/oci";

/*
 * An ImmutableRef test double backed by real files: each layer is a real directory, tarred by GNU tar,
 * gzipped and stored in a real content store; mount() extracts the layer tars in order with GNU tar.
 */

export function tempDir(prefix = "kiln-exp-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function run(cmd: string, args: string[], input?: Buffer): string {
  return execFileSync(cmd, args, {
    encoding: "utf8",
    maxBuffer: 1 << 27,
    input,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

export type LayerBuilder = (dir: string) => void;

export function put(dir: string, path: string, text: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
  chmodSync(join(dir, path), mode);
}

/** Base layer with the awkward cases: symlinks (one pointing outside), a hardlink, odd modes and owners. */
export const baseLayer: LayerBuilder = (dir) => {
  put(dir, "etc/hello", "hello v1\n");
  put(dir, "bin/tool", "#!/bin/sh\necho tool\n", 0o755);
  linkSync(join(dir, "bin/tool"), join(dir, "bin/tool-hard"));
  symlinkSync("tool", join(dir, "bin/link"));
  symlinkSync("/etc/passwd", join(dir, "etc/outside"));
  put(dir, "bin/suid", "x", 0o4755);
  put(dir, "etc/locked", "secret", 0o000);
  put(dir, "usr/lib/data.bin", createHash("sha512").update("seed").digest().toString("hex").repeat(3000));
  put(dir, "home/user/file", "mine\n", 0o600);
  chownSync(join(dir, "home/user/file"), 1234, 5678);
  chownSync(join(dir, "home/user"), 1234, 5678);
  execFileSync("mkfifo", [join(dir, "etc/fifo")]);
};

export const appLayer: LayerBuilder = (dir) => {
  put(dir, "etc/hello", "hello v2\n");
  put(dir, "app/main.sh", "#!/bin/sh\necho app\n", 0o755);
};

export interface TestRef extends ImmutableRef {
  readonly storedLayers: Layer[];
}

export async function createTestRef(store: ContentStore, builders: LayerBuilder[]): Promise<TestRef> {
  const tars: Buffer[] = [];
  const layers: Layer[] = [];
  for (const build of builders) {
    const dir = tempDir("kiln-layer-");
    build(dir);
    const tarBytes = execFileSync("tar", ["-C", dir, "--sort=name", "--numeric-owner", "-cf", "-", "."], {
      maxBuffer: 1 << 27,
    });
    tars.push(tarBytes);
    const gz = await store.write(Readable.from([tarBytes]).pipe(gzipStream()));
    layers.push({
      blob: {
        mediaType: MediaType.OciLayerGzip,
        digest: gz.digest,
        size: gz.size,
        annotations: {
          "containerd.io/uncompressed": "internal",
          "buildkit/createdat": "internal",
          keep: "me",
        },
      },
      diffId: `sha256:${createHash("sha256").update(tarBytes).digest("hex")}`,
    });
  }
  let merged: string | undefined;
  let mounts = 0;
  return {
    id: `test-${layers.length}`,
    snapshot: "test",
    storedLayers: layers,
    async layers() {
      return layers;
    },
    async mount() {
      if (merged === undefined) {
        merged = tempDir("kiln-merged-");
        for (const t of tars)
          execFileSync("tar", ["-C", merged, "--numeric-owner", "-xpf", "-"], { input: t });
      }
      mounts++;
      return {
        path: merged,
        release: async () => {
          mounts--;
        },
      };
    },
    get activeMounts() {
      return mounts;
    },
  } as TestRef & { activeMounts: number };
}

export const testConfig: ImageConfig = {
  architecture: "amd64",
  os: "linux",
  config: {
    Env: ["PATH=/usr/bin:/bin", "HELLO=world"],
    Cmd: ["/app/main.sh"],
    WorkingDir: "/app",
    Labels: { a: "b" },
  },
  rootfs: { type: "layers", diff_ids: [] },
  history: [
    { created: "2020-01-01T00:00:00Z", created_by: "ADD base", comment: "buildkit.dockerfile.v0" },
    { created: "2030-01-01T00:00:00Z", created_by: "COPY app", comment: "buildkit.dockerfile.v0" },
    { created: "2030-01-01T00:00:00Z", created_by: 'CMD ["/app/main.sh"]', empty_layer: true },
  ],
};

export function request(
  ref: ImmutableRef,
  attrs: Record<string, string>,
  names: string[] = [],
  events?: ProgressEvent[],
): ExportRequest {
  return {
    ref,
    config: testConfig,
    platform: { os: "linux", architecture: "amd64" },
    names,
    attrs,
    progress: events ? { write: (e) => events.push(e) } : noopProgress,
  };
}
