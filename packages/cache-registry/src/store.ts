import { Readable } from "node:stream";
import {
  type BlobStore,
  type CallOptions,
  type Descriptor,
  digestVerifier,
  isDigest,
  isKilnError,
  KilnError,
  pipeChecked,
  sourceFailure,
  throwIfAborted,
} from "@kiln/core";
import {
  type CredentialStore,
  createDockerCredentialStore,
  createRegistryClient,
  type RegistryCallOptions,
  type RegistryClient,
  type RegistryConfig,
} from "@kiln/registry";
import {
  isValidTag,
  REGISTRY_CACHE_TYPE,
  type RegistryCacheOptions,
  type ResolvedRegistryCacheOptions,
  resolveRegistryOptions,
} from "./options.js";

/** How the store reaches the registry; by default a client of its own with `~/.docker/config.json`. */
export interface RegistryStoreConnection {
  /** A shared client (kept open by `close()`); otherwise one is made from `auth` and `config`. */
  readonly client?: RegistryClient;
  readonly auth?: CredentialStore;
  /** `[registry."host"]` settings (CA, mirrors, plain HTTP) from kiln.toml. */
  readonly config?: RegistryConfig;
  /** Blobs up to this size are checked in memory before the upload, so a failed PUT can be retried
   * (default 4 MiB); bigger ones stream through the check in one attempt. */
  readonly bufferBelow?: number;
}

const DEFAULT_BUFFER_BELOW = 4 * 1024 * 1024;

/**
 * A BlobStore in one registry repository: blobs are the repository's blobs, a pointer is a tag whose
 * data is the manifest or index JSON (version = its digest). Registries have no compare-and-swap on
 * tags, so `expected` is ignored and callers confirm by reading back.
 */
export function createRegistryBlobStore(
  input: RegistryCacheOptions,
  connection: RegistryStoreConnection = {},
): BlobStore {
  const options: ResolvedRegistryCacheOptions = resolveRegistryOptions(input);
  const repo = options.repository;
  const bufferBelow = connection.bufferBelow ?? DEFAULT_BUFFER_BELOW;
  let owned: RegistryClient | undefined;
  const client = (): RegistryClient => {
    if (connection.client) return connection.client;
    owned ??= createRegistryClient({
      auth: connection.auth ?? createDockerCredentialStore(),
      ...(connection.config ? { config: connection.config } : {}),
    });
    return owned;
  };
  const call = (o: CallOptions): RegistryCallOptions => ({
    insecure: options.insecure,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const pointerRef = (name: string) => {
    if (isDigest(name)) return `${repo}@${name}`;
    if (!isValidTag(name)) {
      throw new KilnError(
        "INVALID_ARGUMENT",
        `cache registry: pointer name ${JSON.stringify(name)} is not a tag`,
        {
          hint: "a tag is up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'",
        },
      );
    }
    return `${repo}:${name}`;
  };

  /**
   * The body as a replayable buffer (small blobs) or a one-shot checked stream (large ones), plus the
   * body's own failure (digest check, source error, cancellation) once there is one.
   */
  const prepare = async (desc: Descriptor, body: Readable, o: CallOptions) => {
    const what = `push ${desc.digest} to ${repo}`;
    const checked = pipeChecked(body, digestVerifier(desc, what), sourceFailure(what));
    // The stream may fail before the upload reads it; its error is taken from `errored` then.
    checked.on("error", () => {});
    const failure = () => checked.errored ?? undefined;
    // Nothing else wakes a reader waiting on a stalled body (here, or in the client's chunk loop).
    const cancel = () =>
      checked.destroy(new KilnError("CANCELED", `${what}: canceled`, { cause: o.signal?.reason }));
    o.signal?.addEventListener("abort", cancel, { once: true });
    checked.once("close", () => o.signal?.removeEventListener("abort", cancel));
    if (desc.size <= bufferBelow) {
      const chunks: Buffer[] = [];
      for await (const chunk of checked) chunks.push(chunk as Buffer);
      const data = Buffer.concat(chunks);
      return { open: async () => Readable.from([data]), failure };
    }
    let opened = false;
    const open = async () => {
      const failed = failure();
      if (failed) throw failed;
      if (opened) {
        throw new KilnError(
          "UNAVAILABLE",
          `${what}: the upload broke off and a streamed body cannot be sent again`,
          {
            hint: "retry the build; the registry or the network failed during the upload",
          },
        );
      }
      opened = true;
      return checked as Readable;
    };
    return { open, failure };
  };

  return {
    type: REGISTRY_CACHE_TYPE,
    // Reads resume with Range requests; registries keep blobs until GC, so there is nothing to touch.
    capabilities: { rangeReads: true, touch: false, conditionalPointers: false },

    info: (digest, o = {}) => client().statBlob(repo, digest, call(o)),

    async read(desc, o = {}) {
      return client()
        .fetchBlob(repo, desc, call(o))
        .catch((err: unknown) => {
          if (isKilnError(err, "NOT_FOUND")) {
            throw new KilnError("NOT_FOUND", `blob ${desc.digest} is not in ${repo}`, { cause: err });
          }
          throw err;
        });
    },

    async readPointer(name, o = {}) {
      const ref = pointerRef(name);
      try {
        const m = await client().fetchManifestBytes(ref, call(o));
        return { data: new Uint8Array(m.bytes), version: m.digest };
      } catch (err) {
        if (isKilnError(err, "NOT_FOUND") && !o.signal?.aborted) return undefined;
        throw err;
      }
    },

    async write(desc, body, o = {}) {
      let prepared: Awaited<ReturnType<typeof prepare>>;
      try {
        throwIfAborted(o.signal);
        // Known blobs are skipped before their bytes are read (the client checks again before a PUT).
        if ((await client().statBlob(repo, desc.digest, call(o)))?.size === desc.size) {
          body.destroy();
          return;
        }
        prepared = await prepare(desc, body, o);
      } catch (err) {
        body.destroy();
        throw err;
      }
      try {
        await client().pushBlob(repo, desc, prepared.open, call(o));
      } catch (err) {
        // What the body itself failed with says more than the request it broke.
        throw prepared.failure() ?? err;
      } finally {
        body.destroy(); // unread when the registry turned out to have the blob already
      }
    },

    async writePointer(name, data, o = {}) {
      const ref = pointerRef(name);
      await client().pushManifest(ref, data, pointerMediaType(data), call(o));
      return true;
    },

    async close() {
      await owned?.close();
      owned = undefined;
    },
  };
}

/** The `mediaType` a manifest or index declares, which the registry needs as Content-Type. */
function pointerMediaType(data: Uint8Array): string {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8"));
  } catch {
    doc = undefined;
  }
  const mediaType = (doc as { mediaType?: unknown } | undefined)?.mediaType;
  if (typeof mediaType !== "string" || mediaType === "") {
    throw new KilnError(
      "INVALID_ARGUMENT",
      "cache registry: a pointer must be a manifest or index JSON document with a mediaType",
      { hint: "this is a bug in the cache layer that wrote the pointer" },
    );
  }
  return mediaType;
}
