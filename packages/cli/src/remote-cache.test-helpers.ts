import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { type CacheModules, createBuilder } from "@kiln/builder";
import { CACHE_CONFIG_MEDIA_TYPE, type CacheSpec } from "@kiln/cache";
import type { BlobStore, CacheBackendModule, Descriptor, ProgressEvent } from "@kiln/core";
import { buildApp } from "fauxqs";
import { CACHE_BACKENDS } from "./cache-backends.js";
import { busybox, run } from "./e2e-helpers.test-helpers.js";

/** Two stages; the final image has three layers (busybox, the COPY --from, the RUN). */
export const MULTI_STAGE = `FROM busybox AS build
RUN echo built > /built.txt
COPY a.txt /a.txt
RUN cat /a.txt /built.txt > /combined.txt

FROM busybox
COPY --from=build /combined.txt /app/combined.txt
RUN wc -c /app/combined.txt > /app/size.txt
`;

export interface Fixture {
  readonly dir: string;
  readonly ctx: string;
  readonly contextFlags: string[];
  readonly busyboxRef: string;
}

export async function makeFixture(dir: string): Promise<Fixture> {
  const ctx = join(dir, "ctx");
  await mkdir(ctx);
  await writeFile(join(ctx, "Dockerfile"), MULTI_STAGE);
  await writeFile(join(ctx, "a.txt"), "alpha\n");
  const contextFlags = await busybox(dir);
  return { dir, ctx, contextFlags, busyboxRef: contextFlags[1]?.replace(/^busybox=/, "") ?? "" };
}

/** fauxqs's S3 emulator in this process on 127.0.0.1, with a log of the requests it served. */
export interface RequestLoggingS3 {
  readonly endpoint: string;
  /** `METHOD /bucket/key` of every request, in arrival order. */
  readonly requests: string[];
  bucket(name: string): Promise<void>;
  /** Called for each request before it is served; returning true drops the server like a crash. */
  crashWhen(predicate: (method: string, url: string) => boolean): void;
  /** Holds every blob upload this long before serving it, so that parallel uploads overlap visibly. */
  slowBlobUploads(ms: number): void;
  /** The most blob uploads (PUT …/blobs/…) that were in flight at once. */
  readonly maxBlobUploadsInFlight: number;
  stop(): Promise<void>;
}

export async function startRequestLoggingS3(): Promise<RequestLoggingS3> {
  const app = buildApp({ logger: false, host: "127.0.0.1" });
  const requests: string[] = [];
  let crash: ((method: string, url: string) => boolean) | undefined;
  let stopped = false;
  let uploadDelayMs = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const isBlobUpload = (method: string, url: string) => method === "PUT" && url.includes("/blobs/");
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    app.server.closeAllConnections();
    await app.close();
  };
  app.addHook("onRequest", (req, _reply, done) => {
    requests.push(`${req.method} ${req.url}`);
    if (crash?.(req.method, req.url)) {
      crash = undefined;
      // No answer: every open connection drops and the port stops listening mid-export.
      void stop();
      return;
    }
    if (!isBlobUpload(req.method, req.url)) return done();
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(done, uploadDelayMs);
  });
  app.addHook("onResponse", (req, _reply, done) => {
    if (isBlobUpload(req.method, req.url)) inFlight--;
    done();
  });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  const endpoint = new URL(address).origin;
  return {
    endpoint,
    requests,
    async bucket(name) {
      const res = await fetch(`${endpoint}/${name}`, { method: "PUT" });
      if (!res.ok) throw new Error(`creating bucket ${name}: ${res.status}`);
    },
    crashWhen(predicate) {
      crash = predicate;
    },
    slowBlobUploads(ms) {
      uploadDelayMs = ms;
    },
    get maxBlobUploadsInFlight() {
      return maxInFlight;
    },
    stop,
  };
}

/** The CLI's backend table, with every created store counting which layer blobs it reads and closes. */
function countingModules(layersRead: string[], closed: { count: number }): CacheModules {
  const table: Record<string, CacheBackendModule> = {};
  for (const [type, module] of Object.entries(CACHE_BACKENDS)) {
    if (!module) continue;
    table[type] = {
      ...module,
      backend(options, context) {
        const backend = module.backend(options, context);
        return { ...backend, create: () => counting(backend.create(), layersRead, closed) };
      },
    };
  }
  return table;
}

function counting(inner: BlobStore, layersRead: string[], closed: { count: number }): BlobStore {
  return {
    ...inner,
    async close() {
      closed.count++;
      await inner.close?.();
    },
    read(desc: Descriptor, o): Promise<Readable> {
      if (desc.mediaType !== CACHE_CONFIG_MEDIA_TYPE) layersRead.push(desc.digest);
      return inner.read(desc, o);
    },
  };
}

export interface ImportResult {
  readonly events: { type: string; name?: string; message?: string }[];
  readonly layersRead: string[];
  /** How many of the stores the build created it closed again. */
  readonly storesClosed: number;
}

/** A build in this process on a fresh store with `--cache-from` only, through the CLI's backends. */
export async function importBuild(
  f: Fixture,
  name: string,
  cacheFrom: CacheSpec,
  extra: { target?: string; out?: string; ctx?: string } = {},
): Promise<ImportResult> {
  const layersRead: string[] = [];
  const closed = { count: 0 };
  const events: ProgressEvent[] = [];
  const builder = createBuilder({
    root: join(f.dir, `store-${name}`),
    caches: countingModules(layersRead, closed),
  });
  try {
    await builder.build({
      contextDir: extra.ctx ?? f.ctx,
      buildContexts: { busybox: f.busyboxRef },
      cacheFrom: [cacheFrom],
      ...(extra.target ? { target: extra.target } : {}),
      outputs: extra.out ? [{ type: "oci", attrs: { dest: extra.out } }] : [],
      progress: { write: (e) => events.push(e) },
    });
  } finally {
    await builder.close();
  }
  return { events: events as ImportResult["events"], layersRead, storesClosed: closed.count };
}

/** Steps the user sees ([stage n/m] …), not [internal] loads. */
export const steps = (list: readonly { type: string; name?: string }[]) =>
  list.filter((e) => e.name?.startsWith("[") && !e.name.startsWith("[internal]"));

export const notCached = (list: readonly { type: string; name?: string }[]) =>
  steps(list).filter((e) => e.type !== "vertex.cached");

export async function imageLayers(ociTar: string): Promise<string[]> {
  const manifest = await run("skopeo", ["inspect", "--raw", `oci-archive:${ociTar}`]);
  if (manifest.code !== 0) throw new Error(manifest.stderr);
  return (JSON.parse(manifest.stdout).layers as Descriptor[]).map((l) => l.digest);
}

/** Two contexts whose builds share nothing but the base image. */
export async function twoContexts(dir: string, tag: string): Promise<string[]> {
  return Promise.all(
    ["one", "two"].map(async (name) => {
      const ctx = join(dir, `ctx-${tag}-${name}`);
      await mkdir(ctx);
      await writeFile(join(ctx, "Dockerfile"), `FROM busybox\nRUN echo ${name} > /${name}.txt\n`);
      return ctx;
    }),
  );
}

/** Lines of a CLI run's stderr that are not rawjson progress events (what a user would notice). */
export const strayLines = (stderr: string) =>
  stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("{"));
