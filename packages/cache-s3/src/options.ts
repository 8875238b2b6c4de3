import { inspect } from "node:util";
import {
  checkTypeAttr,
  invalidAttr,
  KilnError,
  parseBoolAttr,
  parseDurationAttr,
  parseIntAttr,
  rejectUnknownAttrs,
  SHARED_CACHE_ATTRS,
} from "@kiln/core";

export const S3_CACHE_TYPE = "s3";

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** `--cache-to type=s3,…` as options; names in comments are BuildKit's attributes. */
export interface S3CacheOptions {
  /** `bucket` (or `$AWS_BUCKET`). */
  readonly bucket: string;
  /** `region` (or `$AWS_REGION`). */
  readonly region: string;
  /** `prefix`: put in front of every key (default ""). */
  readonly prefix?: string;
  /** `blobs_prefix` (default `blobs/`). */
  readonly blobsPrefix?: string;
  /** `manifests_prefix` (default `manifests/`). */
  readonly manifestsPrefix?: string;
  /** `name`, `;`-separated: the cache is written under each name; imports read the first (default `buildkit`). */
  readonly names?: readonly string[];
  /** `endpoint_url`: an S3-compatible service instead of AWS. */
  readonly endpointUrl?: string;
  /** `use_path_style`: `endpoint/bucket/key` instead of `bucket.endpoint/key`. */
  readonly usePathStyle?: boolean;
  /** `access_key_id` + `secret_access_key` (+ `session_token`); absent: the SDK's default chain. */
  readonly credentials?: S3Credentials;
  /** `touch_refresh` in ms (default 24 h): existing blobs older than this get their age refreshed. */
  readonly touchRefreshMs?: number;
  /** `upload_parallelism` (default 4): how many blobs an exporter should upload at once. */
  readonly uploadParallelism?: number;
  /** `retry_mode`. */
  readonly retryMode?: "standard" | "adaptive";
  /** `retry_max_attempts` (≥ 1; the SDK's default is 3). */
  readonly retryMaxAttempts?: number;
  /**
   * `disable_accept_encoding`: accepted for compatibility. BuildKit's Go client adds `Accept-Encoding:
   * gzip` by itself; the JavaScript SDK never sends the header, so there is nothing to turn off.
   */
  readonly disableAcceptEncoding?: boolean;
}

/** The options with every default filled in, as a created backend reports them. */
export type ResolvedS3CacheOptions = Required<Omit<S3CacheOptions, "credentials" | "endpointUrl">> &
  Pick<S3CacheOptions, "credentials" | "endpointUrl">;

export const DEFAULT_TOUCH_REFRESH_MS = 24 * 3_600_000;

export function resolveS3Options(options: S3CacheOptions): ResolvedS3CacheOptions {
  if (!options.bucket) throw missing("bucket", "AWS_BUCKET");
  if (!options.region) throw missing("region", "AWS_REGION");
  const names = options.names ?? ["buildkit"];
  if (names.length === 0 || names.some((n) => n.length === 0)) {
    throw invalidAttr(S3_CACHE_TYPE, "name", names.join(";"), "names must not be empty");
  }
  return {
    bucket: options.bucket,
    region: options.region,
    prefix: options.prefix ?? "",
    blobsPrefix: options.blobsPrefix ?? "blobs/",
    manifestsPrefix: options.manifestsPrefix ?? "manifests/",
    names,
    usePathStyle: options.usePathStyle ?? false,
    touchRefreshMs: options.touchRefreshMs ?? DEFAULT_TOUCH_REFRESH_MS,
    uploadParallelism: options.uploadParallelism ?? 4,
    retryMode: options.retryMode ?? "standard",
    retryMaxAttempts: options.retryMaxAttempts ?? 3,
    disableAcceptEncoding: options.disableAcceptEncoding ?? false,
    ...(options.endpointUrl ? { endpointUrl: options.endpointUrl } : {}),
    ...(options.credentials ? { credentials: hideSecrets(options.credentials) } : {}),
  };
}

function missing(attr: string, env: string): KilnError {
  return new KilnError("INVALID_ARGUMENT", `cache s3: attribute ${attr} is required`, {
    hint: `set ${attr}=… in --cache-to/--cache-from or the ${env} environment variable`,
  });
}

/** Keeps secrets out of JSON (provenance, logs) and `console.log`, while the SDK still reads them. */
function hideSecrets(c: S3Credentials): S3Credentials {
  const shown = () => ({
    accessKeyId: c.accessKeyId,
    secretAccessKey: "***",
    ...(c.sessionToken ? { sessionToken: "***" } : {}),
  });
  const out = { ...c };
  Object.defineProperty(out, "toJSON", { value: shown, enumerable: false });
  Object.defineProperty(out, inspect.custom, { value: shown, enumerable: false });
  return out;
}

const S3_ATTRS = new Set([
  ...SHARED_CACHE_ATTRS,
  "bucket",
  "region",
  "prefix",
  "blobs_prefix",
  "manifests_prefix",
  "name",
  "endpoint_url",
  "use_path_style",
  "access_key_id",
  "secret_access_key",
  "session_token",
  "touch_refresh",
  "upload_parallelism",
  "retry_mode",
  "retry_max_attempts",
  "disable_accept_encoding",
]);

/** BuildKit's s3 attributes (`bucket=…,region=…`) with `$AWS_*` fallbacks; unknown or bad values fail. */
export function parseS3Attrs(
  attrs: Readonly<Record<string, string>>,
  env: Readonly<Record<string, string | undefined>>,
): ResolvedS3CacheOptions {
  const t = S3_CACHE_TYPE;
  checkTypeAttr(t, attrs);
  rejectUnknownAttrs(t, attrs, S3_ATTRS);
  const a = (k: string) => attrs[k];
  const accessKeyId = a("access_key_id") ?? env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = a("secret_access_key") ?? env.AWS_SECRET_ACCESS_KEY;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    const absent = accessKeyId === undefined ? "access_key_id" : "secret_access_key";
    throw new KilnError("INVALID_ARGUMENT", `cache s3: attribute ${absent} is required with the other key`, {
      hint: "give both access_key_id and secret_access_key (or neither, to use the AWS default credentials)",
    });
  }
  const sessionToken = a("session_token") ?? (a("access_key_id") ? undefined : env.AWS_SESSION_TOKEN);
  const retryMode = a("retry_mode");
  if (retryMode !== undefined && retryMode !== "standard" && retryMode !== "adaptive") {
    throw invalidAttr(t, "retry_mode", retryMode, "expected standard or adaptive");
  }
  const name = a("name");
  const endpointUrl = a("endpoint_url");
  if (endpointUrl !== undefined && !URL.canParse(endpointUrl)) {
    throw invalidAttr(t, "endpoint_url", endpointUrl, "expected a URL such as http://127.0.0.1:9000");
  }
  const opt = <T>(k: string, parse: (v: string) => T) => {
    const v = a(k);
    return v === undefined ? undefined : parse(v);
  };
  const options: S3CacheOptions = {
    bucket: a("bucket") ?? env.AWS_BUCKET ?? "",
    region: a("region") ?? env.AWS_REGION ?? "",
    ...(a("prefix") !== undefined ? { prefix: a("prefix") } : {}),
    ...(a("blobs_prefix") !== undefined ? { blobsPrefix: a("blobs_prefix") } : {}),
    ...(a("manifests_prefix") !== undefined ? { manifestsPrefix: a("manifests_prefix") } : {}),
    ...(name !== undefined ? { names: name.split(";") } : {}),
    ...(endpointUrl ? { endpointUrl } : {}),
    ...(accessKeyId !== undefined && secretAccessKey !== undefined
      ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } }
      : {}),
    ...defined({
      usePathStyle: opt("use_path_style", (v) => parseBoolAttr(t, "use_path_style", v)),
      touchRefreshMs: opt("touch_refresh", (v) => parseDurationAttr(t, "touch_refresh", v)),
      uploadParallelism: opt("upload_parallelism", (v) => parseIntAttr(t, "upload_parallelism", v, 1)),
      retryMaxAttempts: opt("retry_max_attempts", (v) => parseIntAttr(t, "retry_max_attempts", v, 1)),
      disableAcceptEncoding: opt("disable_accept_encoding", (v) =>
        parseBoolAttr(t, "disable_accept_encoding", v),
      ),
      retryMode: retryMode as S3CacheOptions["retryMode"],
    }),
  };
  return resolveS3Options(options);
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
