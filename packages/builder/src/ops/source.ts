import { createReadStream } from "node:fs";
import { type Descriptor, type Digest, KilnError, type Op, type Ref, sha256 } from "@kiln/core";
import { createIgnoreMatcher } from "@kiln/frontend-dockerfile";
import { openOciLayout } from "@kiln/oci";
import pLimit from "p-limit";
import { gitSource } from "./source-git.js";
import { httpSource } from "./source-http.js";
import type { DecodedOp, OpEnvironment } from "./types.js";

/**
 * Source ops: `local://name` (a directory read in place — the embedded builder never transfers the
 * context), `oci-layout://store/name@digest` (a base image from an OCI layout on disk),
 * `docker-image://` (registry), `http(s)://` (a downloaded file) and `git://` (a checkout).
 */
export function sourceOp(op: DecodedOp, env: OpEnvironment): Op<Ref> {
  const source = op.source;
  if (!source) throw new KilnError("INTERNAL", "source op without source");
  const [scheme, rest = ""] = splitScheme(source.identifier);
  const attrs = source.attrs ?? {};
  switch (scheme) {
    case "local":
      return localSource(rest, attrs, env);
    case "oci-layout":
      return ociLayoutSource(rest, op, env);
    case "docker-image":
      return registrySource(rest, op, env);
    case "http":
    case "https":
      return httpSource(source.identifier, attrs, env);
    case "git":
      return gitSource(rest, attrs, env);
    default:
      throw new KilnError("INVALID_ARGUMENT", `unsupported source ${JSON.stringify(source.identifier)}`);
  }
}

function localSource(name: string, attrs: Readonly<Record<string, string>>, env: OpEnvironment): Op<Ref> {
  const directory = env.localDirs.get(name);
  const excludes = jsonList(attrs["local.excludepatterns"]);
  const includes = jsonList(attrs["local.includepattern"] ?? attrs["local.includepatterns"]);
  return {
    // The directory lives outside the store: dependents key on the content they read from it.
    cacheMap: async () => ({ digest: sha256(`local:${name}`), deps: [], volatile: true }),
    async exec() {
      if (!directory) {
        throw new KilnError(
          "NOT_FOUND",
          `no local directory named ${JSON.stringify(name)} was given to the build`,
        );
      }
      const excluded = excludes.length > 0 ? createIgnoreMatcher(excludes) : undefined;
      const included = includes.length > 0 ? createIgnoreMatcher(includes) : undefined;
      const filter = (rel: string, isDir: boolean) => {
        // An excluded directory stays visible when an exception (`!pattern`) may re-include
        // something below it; its excluded entries are filtered one by one.
        if (excluded?.(rel, isDir) && !(isDir && excluded.mightIncludeUnder(rel))) return false;
        // Include patterns select paths; a directory stays visible while something under it may match.
        if (included && !isDir && !included(rel, isDir)) return false;
        return true;
      };
      return [
        {
          id: `local:${name}`,
          snapshot: undefined,
          directory,
          filter,
          mount: async () => ({ path: directory, release: async () => {} }),
          layers: async () => {
            throw new KilnError("FAILED_PRECONDITION", `local source ${name} has no layers of its own`);
          },
        },
      ];
    },
  };
}

function ociLayoutSource(rest: string, op: DecodedOp, env: OpEnvironment): Op<Ref> {
  const at = rest.lastIndexOf("@");
  const storeId = rest.split("/")[0] ?? "";
  const manifestDigest = (at >= 0 ? rest.slice(at + 1) : "") as Digest;
  if (!manifestDigest.startsWith("sha256:")) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `oci-layout source ${JSON.stringify(rest)} must be pinned to a digest`,
    );
  }
  const platform = op.platform ?? {};
  return {
    // Like BuildKit's image source: the key is the manifest and platform, never where the layout lives.
    cacheMap: async () => ({ digest: imageCacheDigest(manifestDigest, platform), deps: [] }),
    async exec(_inputs, o) {
      const dir = env.ociStores.get(storeId);
      if (!dir) throw new KilnError("NOT_FOUND", `unknown OCI layout store ${JSON.stringify(storeId)}`);
      const layout = await openOciLayout(dir, o);
      const image = await layout.resolve(manifestDigest, o);
      const layers = [];
      for (const [i, blob] of image.manifest.layers.entries()) {
        if (!(await env.content.info(blob.digest, o))) {
          await env.content.write(createReadStream(layout.blobPath(blob.digest)), blob, o);
        }
        const diffId = image.config.rootfs.diff_ids[i];
        if (!diffId)
          throw new KilnError("INVALID_ARGUMENT", `image ${manifestDigest} has fewer diff_ids than layers`);
        layers.push({ blob, diffId });
      }
      return [await env.refs.fromLayers(layers, `oci-layout ${manifestDigest}`, o)];
    },
  };
}

/** `docker-image://name@sha256:…`: layers fetched into the content store once, shared by all builds. */
function registrySource(rest: string, op: DecodedOp, env: OpEnvironment): Op<Ref> {
  const at = rest.lastIndexOf("@");
  const manifestDigest = (at >= 0 ? rest.slice(at + 1) : "") as Digest;
  if (!manifestDigest.startsWith("sha256:")) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `image source ${JSON.stringify(rest)} must be pinned to a digest`,
    );
  }
  const name = rest.slice(0, at).replace(/:[^/:]+$/, "");
  const pinned = `${name}@${manifestDigest}`;
  const platform = op.platform ?? {};
  return {
    cacheMap: async () => ({ digest: imageCacheDigest(manifestDigest, platform), deps: [] }),
    async exec(_inputs, o) {
      const registry = env.registry;
      if (!(await env.content.info(manifestDigest, o))) {
        if (!registry) throw new KilnError("UNAVAILABLE", `no registry client to pull ${pinned}`);
        const bytes = await registry.fetchManifestBytes(pinned, o);
        await env.content.write(bytes.bytes, { digest: manifestDigest }, o);
      }
      const manifest = JSON.parse((await env.content.readBytes(manifestDigest, o)).toString("utf8")) as {
        config: Descriptor;
        layers: Descriptor[];
      };
      const config = JSON.parse(
        (await env.content.readBytes(manifest.config.digest, o)).toString("utf8"),
      ) as {
        rootfs?: { diff_ids?: Digest[] };
      };
      const missing = [];
      for (const blob of manifest.layers) if (!(await env.content.info(blob.digest, o))) missing.push(blob);
      await allLimited(missing, 3, async (blob) => {
        if (!registry) throw new KilnError("UNAVAILABLE", `no registry client to pull ${pinned}`);
        await env.content.write(await registry.fetchBlob(pinned, blob, o), blob, o);
      });
      const layers = manifest.layers.map((blob, i) => {
        const diffId = config.rootfs?.diff_ids?.[i];
        if (!diffId)
          throw new KilnError("INVALID_ARGUMENT", `image ${pinned} has fewer diff_ids than layers`);
        return { blob, diffId };
      });
      return [await env.refs.fromLayers(layers, `image ${pinned}`, o)];
    },
  };
}

/** Like BuildKit's image source key: the manifest and the platform, never the name it came under. */
function imageCacheDigest(
  manifestDigest: Digest,
  platform: { os?: string; architecture?: string; variant?: string },
) {
  return sha256(
    `buildkit.source.v0:${JSON.stringify({
      Digest: manifestDigest,
      OS: platform.os ?? "",
      Arch: platform.architecture ?? "",
      ...(platform.variant ? { Variant: platform.variant } : {}),
    })}`,
  );
}

// --- Internal helpers ---

function splitScheme(identifier: string): [string, string] {
  const i = identifier.indexOf("://");
  return i < 0 ? [identifier, ""] : [identifier.slice(0, i), identifier.slice(i + 3)];
}

function jsonList(value: string | undefined): string[] {
  if (!value) return [];
  const parsed: unknown = JSON.parse(value);
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

/** Runs `fn` over `items` with at most `limit` at a time. */
function allLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<unknown[]> {
  const run = pLimit(limit);
  return Promise.all(items.map((item) => run(() => fn(item))));
}
