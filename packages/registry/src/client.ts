import type { Readable } from "node:stream";
import {
  type CallOptions,
  type Descriptor,
  type Digest,
  formatPlatform,
  hostPlatform,
  isCanceled,
  isIndexMediaType,
  isManifestMediaType,
  KilnError,
  type Platform,
  sha256,
} from "@kiln/core";
import { type ImageIndex, type ImageManifest, pickPlatform } from "@kiln/oci";
import { createAuthenticator, repositoryScope } from "./auth.js";
import {
  type Endpoint,
  emptyRegistryConfig,
  endpointsFor,
  hostConfig,
  type RegistryConfig,
} from "./config.js";
import type { CredentialStore } from "./credentials.js";
import { getManifest, headBlob, type ManifestBytes, openBlob, statBlob } from "./fetch.js";
import { manifestReference, parseRegistryRef, type RegistryRef, withDigest } from "./names.js";
import type { RetryPolicy } from "./retry.js";
import { createTransport, header } from "./transport.js";
import { type PushBlobOptions, type PushBlobResult, pushBlob, type UploadOptions } from "./upload.js";

export interface RegistryClientOptions {
  /** Credentials by registry host; anonymous when absent. */
  readonly auth?: CredentialStore;
  /** `[registry."host"]` settings from kiln.toml: plain HTTP, TLS, mirrors. */
  readonly config?: RegistryConfig;
  /** Requests in flight per registry host (default 4, like BuildKit). */
  readonly concurrencyPerHost?: number;
  readonly userAgent?: string;
  readonly retry?: RetryPolicy;
  readonly upload?: UploadOptions;
}

/** Per call: `insecure` is the `registry.insecure` attribute (HTTPS unverified, else plain HTTP). */
export interface RegistryCallOptions extends CallOptions {
  readonly insecure?: boolean;
}

export interface ResolveOptions extends RegistryCallOptions {
  /** The platform to pick from an index (default: the host's). */
  readonly platform?: Platform;
}

export interface ResolvedImage {
  /** The normalised reference that was resolved. */
  readonly name: string;
  readonly manifestDigest: Digest;
  readonly manifest: ImageManifest;
  readonly mediaType: string;
  /** The manifest's descriptor (with `platform` when it was picked from an index). */
  readonly descriptor: Descriptor;
  /** The index the manifest was picked from, when the reference named one. */
  readonly index?: { readonly digest: Digest; readonly descriptor: Descriptor; readonly index: ImageIndex };
}

export type ImageRefInput = string | RegistryRef;

export interface RegistryClient {
  resolve(ref: ImageRefInput, o?: ResolveOptions): Promise<ResolvedImage>;
  /** A manifest or index as stored, verified against the reference's digest. */
  fetchManifestBytes(ref: ImageRefInput, o?: RegistryCallOptions): Promise<ManifestBytes>;
  /** The blob's bytes, verified on the fly (DATA_LOSS on a bad digest or size). Read or destroy it. */
  fetchBlob(ref: ImageRefInput, desc: Descriptor, o?: RegistryCallOptions): Promise<Readable>;
  blobExists(ref: ImageRefInput, digest: Digest, o?: RegistryCallOptions): Promise<boolean>;
  /** The blob's size from a HEAD on the push endpoint, or undefined when the repository lacks it. */
  statBlob(
    ref: ImageRefInput,
    digest: Digest,
    o?: RegistryCallOptions,
  ): Promise<{ size: number } | undefined>;
  pushBlob(
    ref: ImageRefInput,
    desc: Descriptor,
    open: () => Promise<Readable>,
    o?: PushBlobOptions & RegistryCallOptions,
  ): Promise<PushBlobResult>;
  /** Pushes under the reference's tag (else its digest); returns the manifest's digest. */
  pushManifest(
    ref: ImageRefInput,
    bytes: Uint8Array,
    mediaType: string,
    o?: RegistryCallOptions,
  ): Promise<Digest>;
  /** Closes the kept-alive connections. */
  close(): Promise<void>;
}

export function createRegistryClient(options: RegistryClientOptions = {}): RegistryClient {
  const config = options.config ?? emptyRegistryConfig;
  const retry = options.retry ?? {};
  const transport = createTransport(
    {
      auth: createAuthenticator({
        ...(options.auth ? { credentials: options.auth } : {}),
        fetchToken: (url, authorization, o) =>
          transport.getJson(url, authorization, `get a registry token from ${url.host}`, o),
      }),
      retry,
      concurrencyPerHost: Math.max(1, options.concurrencyPerHost ?? 4),
      userAgent: options.userAgent ?? "kiln",
    },
    (host) => {
      const c = hostConfig(config, host);
      return { ...(c.ca ? { ca: c.ca } : {}), ...(c.insecure ? { insecure: true } : {}) };
    },
  );

  const pushEndpoint = (ref: RegistryRef, o: RegistryCallOptions): Endpoint =>
    endpointsFor(config, ref.host, { pull: false, insecure: o.insecure === true }).at(-1) as Endpoint;

  /** Tries the mirrors, then the registry; the registry's error wins when all fail. */
  const pull = async <T>(ref: RegistryRef, o: RegistryCallOptions, fn: (e: Endpoint) => Promise<T>) => {
    const endpoints = endpointsFor(config, ref.host, { pull: true, insecure: o.insecure === true });
    for (const endpoint of endpoints) {
      try {
        return await fn(endpoint);
      } catch (err) {
        if (!endpoint.mirror || isCanceled(err) || o.signal?.aborted) throw err;
        // A mirror that lacks the content or is down is skipped; the registry itself decides.
      }
    }
    throw new KilnError("INTERNAL", "no endpoint");
  };

  const manifestBytes = (ref: RegistryRef, o: RegistryCallOptions) =>
    pull(ref, o, (endpoint) => getManifest(transport, endpoint, ref, o));

  return {
    async resolve(input, o = {}) {
      const ref = parseRegistryRef(input);
      const top = await manifestBytes(ref, o);
      if (isManifestMediaType(top.mediaType)) {
        return {
          name: ref.name,
          manifestDigest: top.digest,
          manifest: parseJson(top, ref),
          mediaType: top.mediaType,
          descriptor: top.descriptor,
        };
      }
      if (!isIndexMediaType(top.mediaType)) {
        throw new KilnError(
          "NOT_IMPLEMENTED",
          `${ref.name} is a ${top.mediaType}, not an image manifest or index`,
        );
      }
      const index = parseJson<ImageIndex>(top, ref);
      const wanted = o.platform ?? hostPlatform();
      const images = (index.manifests ?? []).filter((d) => isManifestMediaType(d.mediaType));
      const picked = pickPlatform(wanted, images, (d) => d.platform);
      if (!picked) {
        const available = images.flatMap((d) => (d.platform ? [formatPlatform(d.platform)] : [])).join(", ");
        throw new KilnError("NOT_FOUND", `${ref.name} has no image for ${formatPlatform(wanted)}`, {
          hint: `available platforms: ${available || "none"}`,
        });
      }
      const child = await manifestBytes(withDigest(ref, picked.digest), o);
      if (child.bytes.length !== picked.size) {
        throw new KilnError(
          "DATA_LOSS",
          `${ref.name}: manifest ${picked.digest} has ${child.bytes.length} bytes, the index says ${picked.size}`,
        );
      }
      const descriptor: Descriptor = {
        ...child.descriptor,
        ...(picked.platform ? { platform: picked.platform } : {}),
      };
      return {
        name: ref.name,
        manifestDigest: child.digest,
        manifest: parseJson(child, ref),
        mediaType: child.mediaType,
        descriptor,
        index: { digest: top.digest, descriptor: top.descriptor, index },
      };
    },
    fetchManifestBytes: (input, o = {}) => manifestBytes(parseRegistryRef(input), o),
    fetchBlob(input, desc, o = {}) {
      const ref = parseRegistryRef(input);
      return pull(ref, o, (endpoint) => openBlob(transport, endpoint, ref, desc, retry, o));
    },
    blobExists(input, digest, o = {}) {
      const ref = parseRegistryRef(input);
      return headBlob(transport, pushEndpoint(ref, o), ref, digest, false, o);
    },
    statBlob(input, digest, o = {}) {
      const ref = parseRegistryRef(input);
      return statBlob(transport, pushEndpoint(ref, o), ref, digest, o);
    },
    pushBlob(input, desc, open, o = {}) {
      const ref = parseRegistryRef(input);
      return pushBlob(transport, pushEndpoint(ref, o), ref, desc, open, retry, options.upload ?? {}, o);
    },
    async pushManifest(input, bytes, mediaType, o = {}) {
      const ref = parseRegistryRef(input);
      const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const digest = sha256(body);
      if (ref.digest !== undefined && ref.digest !== digest) {
        throw new KilnError("INVALID_ARGUMENT", `${ref.name}: the manifest's digest is ${digest}`);
      }
      const target = `/${ref.repository}/manifests/${ref.tag ?? manifestReference(ref)}`;
      await transport.send(
        {
          method: "PUT",
          endpoint: pushEndpoint(ref, o),
          target,
          headers: { "content-type": mediaType, "content-length": String(body.length) },
          body: () => body,
          scopes: [repositoryScope(ref.repository, true)],
          expect: [201],
          what: `push manifest ${ref.name}`,
        },
        o,
        async (res) => {
          res.body.resume();
          const claimed = header(res.headers, "docker-content-digest");
          if (claimed !== undefined && claimed !== digest) {
            throw new KilnError(
              "DATA_LOSS",
              `push manifest ${ref.name}: the registry stored digest ${claimed}, not ${digest}`,
            );
          }
        },
      );
      return digest;
    },
    close: () => transport.close(),
  };
}

function parseJson<T = ImageManifest>(m: ManifestBytes, ref: RegistryRef): T {
  try {
    return JSON.parse(m.bytes.toString("utf8")) as T;
  } catch (err) {
    throw new KilnError("FAILED_PRECONDITION", `${ref.name}: manifest ${m.digest} is not valid JSON`, {
      cause: err,
    });
  }
}
