import type { Readable } from "node:stream";
import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import {
  type BlobInfo,
  type BlobStore,
  type CallOptions,
  type Descriptor,
  type Digest,
  digestVerifier,
  KilnError,
  pipeChecked,
  sourceFailure,
  throwIfAborted,
} from "@kiln/core";
import { isS3NotFound, s3Error } from "./errors.js";
import {
  type ResolvedS3CacheOptions,
  resolveS3Options,
  S3_CACHE_TYPE,
  type S3CacheOptions,
} from "./options.js";
import { resumingBody } from "./resuming-read.js";

/** Tuning that is not a BuildKit attribute; tests lower the part size to exercise multipart uploads. */
export interface S3StoreTuning {
  /** Multipart part size (default and minimum 5 MiB, S3's floor); smaller blobs go up in one PUT. */
  readonly partSize?: number;
  /** Parts of one blob in flight at once (default 4): memory use is partSize × this. */
  readonly partsInFlight?: number;
  /** Socket connect timeout (default 10 s) and idle timeout per request (default 60 s). */
  readonly connectTimeoutMs?: number;
  readonly idleTimeoutMs?: number;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;
/** CopyObject's limit; bigger objects need a multipart copy, which this store does not do yet. */
const MAX_COPY_SIZE = 5 * 1024 * 1024 * 1024;
const UPDATED_AT = "updated-at";

/**
 * A BlobStore in an S3 bucket with BuildKit's layout: blobs at `<prefix><blobs_prefix><digest>`,
 * pointers at `<prefix><manifests_prefix><name>`. Writes stream through a digest check into a
 * multipart upload that is completed only after the last byte matched (smaller blobs are checked in
 * memory before one PUT), so a bad or interrupted body never appears under the blob's key.
 */
export function createS3BlobStore(input: S3CacheOptions, tuning: S3StoreTuning = {}): BlobStore {
  const options: ResolvedS3CacheOptions = resolveS3Options(input);
  const partSize = Math.max(MIN_PART_SIZE, tuning.partSize ?? MIN_PART_SIZE);
  let client: S3Client | undefined;

  const s3 = (): S3Client => {
    if (client) return client;
    client = new S3Client({
      region: options.region,
      forcePathStyle: options.usePathStyle,
      maxAttempts: options.retryMaxAttempts,
      // Like BuildKit: no CRC trailers unless an operation requires them. Several S3-compatible services
      // reject or store the aws-chunked framing, and every blob is checked by sha256 anyway.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      retryMode: options.retryMode,
      requestHandler: {
        connectionTimeout: tuning.connectTimeoutMs ?? 10_000,
        requestTimeout: tuning.idleTimeoutMs ?? 60_000,
      },
      ...(options.endpointUrl ? { endpoint: options.endpointUrl } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
    return client;
  };

  const bucket = options.bucket;
  const blobKey = (digest: Digest) => `${options.prefix}${options.blobsPrefix}${digest}`;
  const pointerKey = (name: string) => {
    if (name.length === 0)
      throw new KilnError("INVALID_ARGUMENT", "cache s3: a pointer name must not be empty");
    return `${options.prefix}${options.manifestsPrefix}${name}`;
  };
  const where = (key: string) => `s3://${bucket}/${key}`;
  const send = <T>(what: string, o: CallOptions, run: (c: S3Client, signal?: AbortSignal) => Promise<T>) => {
    throwIfAborted(o.signal);
    return run(s3(), o.signal).catch((err: unknown) => {
      throw s3Error(what, err, o.signal);
    });
  };

  const head = async (key: string, o: CallOptions): Promise<HeadObjectCommandOutput | undefined> => {
    try {
      throwIfAborted(o.signal);
      return await s3().send(
        new HeadObjectCommand({ Bucket: bucket, Key: key }),
        o.signal ? { abortSignal: o.signal } : {},
      );
    } catch (err) {
      if (isS3NotFound(err) && !o.signal?.aborted) return undefined;
      const mapped = s3Error(`check ${where(key)}`, err, o.signal);
      if (mapped.code !== "PERMISSION_DENIED") throw mapped;
      throw new KilnError(mapped.code, mapped.message, {
        cause: mapped.cause,
        ...(mapped.details ? { details: mapped.details } : {}),
        hint: "S3 answers 403 instead of 404 for a missing object when the credentials may not list the bucket: allow s3:ListBucket on it, or check the credentials",
      });
    }
  };

  // The object's age is its Last-Modified, as for BuildKit: copying the object onto itself resets it.
  // (BuildKit writes `updated-at` metadata as Go's time.String() and never reads it back.)
  const updatedAt = (h: HeadObjectCommandOutput): Date | undefined => h.LastModified;

  /** BuildKit's "touch": copy the object onto itself so S3 lifecycle expiry counts from now. */
  const refreshIfOld = async (key: string, h: HeadObjectCommandOutput, o: CallOptions) => {
    const at = updatedAt(h);
    if (at && Date.now() - at.getTime() < options.touchRefreshMs) return;
    // Not done yet: objects over 5 GiB need UploadPartCopy; they keep their age (see README).
    if ((h.ContentLength ?? 0) > MAX_COPY_SIZE) return;
    await send(`refresh ${where(key)}`, o, (c, abortSignal) =>
      c.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: key,
          CopySource: `${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`,
          MetadataDirective: "REPLACE",
          Metadata: { ...h.Metadata, [UPDATED_AT]: new Date().toISOString() },
          ...(h.ContentType ? { ContentType: h.ContentType } : {}),
        }),
        abortSignal ? { abortSignal } : {},
      ),
    );
  };

  const upload = async (desc: Descriptor, body: Readable, key: string, o: CallOptions) => {
    const what = `upload ${desc.digest} to ${where(key)}`;
    const checked = pipeChecked(body, digestVerifier(desc, what), sourceFailure(what));
    // The uploader may not be reading when the body fails; the error is taken from `errored` below.
    checked.on("error", () => {});
    const job = new Upload({
      client: s3(),
      params: {
        Bucket: bucket,
        Key: key,
        Body: checked,
        ContentType: "application/octet-stream",
        ContentLength: desc.size,
        Metadata: { [UPDATED_AT]: new Date().toISOString() },
      },
      partSize,
      queueSize: Math.max(1, tuning.partsInFlight ?? 4),
      leavePartsOnError: false,
    });
    const onAbort = () => void job.abort().catch(() => {});
    o.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await job.done();
    } catch (err) {
      // The body's own verdict (digest check, source failure) wins over what the uploader made of it.
      if (checked.errored && !o.signal?.aborted) throw checked.errored;
      throw s3Error(what, err, o.signal);
    } finally {
      o.signal?.removeEventListener("abort", onAbort);
      checked.destroy();
    }
  };

  return {
    type: S3_CACHE_TYPE,
    capabilities: { rangeReads: true, touch: true, conditionalPointers: false },

    async info(digest, o = {}): Promise<BlobInfo | undefined> {
      const h = await head(blobKey(digest), o);
      if (!h) return undefined;
      const at = updatedAt(h);
      return { size: h.ContentLength ?? 0, ...(at ? { updatedAt: at } : {}) };
    },

    async read(desc, o = {}) {
      const key = blobKey(desc.digest);
      const what = `read ${desc.digest} from ${where(key)}`;
      const get = async (offset: number, call: CallOptions) => {
        const res = await send(what, call, (c, abortSignal) =>
          c.send(
            new GetObjectCommand({
              Bucket: bucket,
              Key: key,
              ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}),
            }),
            abortSignal ? { abortSignal } : {},
          ),
        );
        return { body: res.Body as Readable, contentRange: res.ContentRange };
      };
      const first = await get(0, o).catch((err: KilnError) => {
        if (err.code === "NOT_FOUND") {
          throw new KilnError("NOT_FOUND", `blob ${desc.digest} is not in ${where(key)}`, { cause: err });
        }
        throw err;
      });
      const body = resumingBody(first.body, get, what, options.retryMaxAttempts, o);
      return pipeChecked(body, digestVerifier(desc, what), (err) => s3Error(what, err, o.signal));
    },

    async readPointer(name, o = {}) {
      const key = pointerKey(name);
      try {
        throwIfAborted(o.signal);
        const res = await s3().send(
          new GetObjectCommand({ Bucket: bucket, Key: key }),
          o.signal ? { abortSignal: o.signal } : {},
        );
        const data = await (
          res.Body as { transformToByteArray(): Promise<Uint8Array> }
        ).transformToByteArray();
        return { data, version: res.ETag ?? res.LastModified?.toISOString() ?? "" };
      } catch (err) {
        if (isS3NotFound(err) && !o.signal?.aborted) return undefined;
        throw s3Error(`read ${where(key)}`, err, o.signal);
      }
    },

    async write(desc, body, o = {}) {
      const key = blobKey(desc.digest);
      try {
        throwIfAborted(o.signal);
        // Credentials that may write but not list get 403 for a missing blob: upload it then, as
        // PutObject decides (a BuildKit export fails there, moby/buildkit#3211).
        const existing = await head(key, o).catch((err: KilnError) => {
          if (err.code === "PERMISSION_DENIED") return undefined;
          throw err;
        });
        if (existing && existing.ContentLength === desc.size) {
          body.destroy();
          await refreshIfOld(key, existing, o);
          return;
        }
      } catch (err) {
        body.destroy();
        throw err;
      }
      await upload(desc, body, key, o);
    },

    async writePointer(name, data, o = {}) {
      const key = pointerKey(name);
      // `o.expected` is ignored: conditional PUTs are not available on every S3 implementation (see README).
      await send(`write ${where(key)}`, o, (c, abortSignal) =>
        c.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
            ContentType: "application/octet-stream",
          }),
          abortSignal ? { abortSignal } : {},
        ),
      );
      return true;
    },

    async touch(digest, o = {}) {
      const key = blobKey(digest);
      const h = await head(key, o);
      if (!h) throw new KilnError("NOT_FOUND", `blob ${digest} is not in ${where(key)}`);
      await refreshIfOld(key, h, o);
    },

    async close() {
      client?.destroy();
      client = undefined;
    },
  };
}
