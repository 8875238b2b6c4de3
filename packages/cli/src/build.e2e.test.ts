import { lstat, mkdir, readFile, readlink, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeTempDir, type TempDir } from "@kiln/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { busybox, events, kiln, run, writeContext } from "./e2e-helpers.test-helpers.js";

const DOCKERFILE = `# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM \${BASE} AS base
ENV APP=/app \\
    MODE=test
ARG GREETING=hi
LABEL com.example.stage=base greeting=$GREETING
WORKDIR $APP
COPY files/ ./files/
COPY --chown=nobody:nogroup --chmod=0640 secret.txt /etc/app/secret.txt
ADD archive.tar.gz /opt/
USER nobody
SHELL ["/bin/sh", "-ec"]

FROM scratch AS other
COPY --from=base /bin/busybox /bin/busybox

FROM base
COPY --from=other /bin/busybox /bin/busybox2
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD ["true"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hello"]
`;

// Every case runs on both snapshotters: overlay (the default) and native (the fallback).
describe.each(["overlay", "native"])(
  "kiln build on the %s snapshotter: every metadata instruction, COPY/ADD, multi-stage",
  (snapshotter) => {
    let tmp: TempDir;
    let ctx: string;
    let root: string;
    let contextFlags: string[];
    const build = (...extra: string[]) =>
      kiln([
        "build",
        "--root",
        root,
        "--snapshotter",
        snapshotter,
        "--progress",
        "rawjson",
        ...contextFlags,
        ...extra,
        ctx,
      ]);

    beforeAll(async () => {
      tmp = await makeTempDir("cli-e2e");
      ctx = join(tmp.path, "ctx");
      root = join(tmp.path, "store");
      await mkdir(ctx);
      await writeContext(ctx, DOCKERFILE);
      contextFlags = await busybox(tmp.path);
    }, 60_000);
    afterAll(() => tmp?.cleanup());

    it("builds an OCI archive that skopeo and umoci accept, with the image config BuildKit writes", async () => {
      const out = join(tmp.path, "image.tar");
      const meta = join(tmp.path, "meta.json");
      const r = await build("-t", "example:1", "-o", `type=oci,dest=${out}`, "--metadata-file", meta);
      expect(r.stderr).not.toContain("ERROR");
      expect(r.code).toBe(0);

      // --raw: skopeo's parsed view drops Docker's extra config fields (Healthcheck, Shell).
      const inspect = await run("skopeo", ["inspect", "--config", "--raw", `oci-archive:${out}`]);
      expect(inspect.code, inspect.stderr).toBe(0);
      const image = JSON.parse(inspect.stdout);
      expect(image.config).toEqual({
        User: "nobody",
        ExposedPorts: { "53/udp": {}, "8080/tcp": {} },
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP=/app", "MODE=test"],
        Entrypoint: ["/bin/sh", "-c"],
        Cmd: ["echo hello"],
        Volumes: { "/data": {} },
        WorkingDir: "/app",
        Labels: { "com.example.stage": "base", greeting: "hi" },
        StopSignal: "SIGQUIT",
        Healthcheck: { Test: ["CMD", "true"], Interval: 5e9, Timeout: 2e9, Retries: 3 },
        Shell: ["/bin/sh", "-ec"],
      });
      // One layer for busybox, then WORKDIR, COPY, COPY, ADD, COPY --from.
      expect(image.rootfs.diff_ids).toHaveLength(6);
      expect(image.history.filter((h: { empty_layer?: boolean }) => !h.empty_layer)).toHaveLength(6);

      const metadata = JSON.parse(await readFile(meta, "utf8"));
      expect(metadata["containerimage.digest"]).toMatch(/^sha256:[a-f0-9]{64}$/);

      const layout = join(tmp.path, "layout");
      await mkdir(layout);
      expect((await run("tar", ["-xf", out, "-C", layout])).code).toBe(0);
      const bundle = join(tmp.path, "bundle");
      const unpack = await run("umoci", ["unpack", "--image", `${layout}:1`, bundle]);
      expect(unpack.code, unpack.stderr).toBe(0);
      const rootfs = join(bundle, "rootfs");

      expect(await readFile(join(rootfs, "app/files/a.txt"), "utf8")).toBe("alpha\n");
      const a = await stat(join(rootfs, "app/files/a.txt"));
      expect([a.mode & 0o7777, a.uid, a.gid]).toEqual([0o644, 0, 0]);
      expect((await stat(join(rootfs, "app/files/sub/b.sh"))).mode & 0o7777).toBe(0o755);
      expect(await readlink(join(rootfs, "app/files/link"))).toBe("a.txt");
      expect((await stat(join(rootfs, "app/files/hard"))).ino).toBe(a.ino);
      await expect(lstat(join(rootfs, "app/files/ignored.txt"))).rejects.toThrow();
      const secret = await stat(join(rootfs, "etc/app/secret.txt"));
      expect([secret.mode & 0o7777, secret.uid, secret.gid]).toEqual([0o640, 65534, 65534]);
      expect(await readFile(join(rootfs, "opt/x/y.txt"), "utf8")).toBe("from the archive\n");
      expect((await stat(join(rootfs, "bin/busybox2"))).size).toBe(
        (await stat(join(rootfs, "bin/busybox"))).size,
      );
      const app = await stat(join(rootfs, "app"));
      expect([app.isDirectory(), app.mode & 0o7777]).toEqual([true, 0o755]);
    }, 120_000);

    it("a second build in a new process reports every step CACHED; an mtime change keeps it cached", async () => {
      const steps = (r: { stderr: string }) =>
        events(r.stderr).filter((e) => e.name?.startsWith("[") && !e.name.startsWith("[internal]"));
      const first = await build();
      expect(first.code, first.stderr).toBe(0);
      const second = await build();
      expect(second.code, second.stderr).toBe(0);
      const secondSteps = steps(second);
      expect(secondSteps.length).toBeGreaterThan(0);
      expect(secondSteps.filter((e) => e.type !== "vertex.cached")).toEqual([]);

      const now = new Date();
      await utimes(join(ctx, "files", "a.txt"), now, new Date(now.getTime() + 60_000));
      const touched = await build();
      expect(touched.code, touched.stderr).toBe(0);
      expect(steps(touched).filter((e) => e.type !== "vertex.cached")).toEqual([]);
    }, 120_000);

    it("changing a byte of a copied file rebuilds that step and the ones after it only", async () => {
      await writeFile(join(ctx, "secret.txt"), "s3cr3T\n");
      const r = await build();
      expect(r.code, r.stderr).toBe(0);
      const ran = new Set(
        events(r.stderr)
          .filter((e) => e.type === "vertex.started")
          .map((e) => e.name),
      );
      const cached = new Set(
        events(r.stderr)
          .filter((e) => e.type === "vertex.cached")
          .map((e) => e.name),
      );
      const named = (part: string) => [...ran, ...cached].find((n) => n?.includes(part)) ?? part;
      expect(ran).toContain(named("COPY --chown=nobody:nogroup"));
      expect(ran).toContain(named("ADD archive.tar.gz"));
      // The final stage builds on the changed base stage, so its COPY runs again...
      expect(ran).toContain(named("COPY --from=other"));
      // ...while the other stage only reads /bin/busybox, whose content did not change.
      expect(cached).toContain(named("COPY --from=base"));
      expect(cached).toContain(named("COPY files/"));
      expect(cached).toContain(named("WORKDIR"));
    }, 120_000);

    it("two kiln builds on one store at the same time both succeed", async () => {
      const [a, b] = await Promise.all([build("--no-cache"), build("--no-cache")]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
    }, 120_000);
  },
);
