import { createHash } from "node:crypto";
import { chmod, chown, copyFile, mkdir, readFile, rename, utimes, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { type CallOptions, type Digest, isKilnError, KilnError, type Op, type Ref, sha256 } from "@kiln/core";
import { redactUrl } from "@kiln/llb";
import { type HttpResponse, httpGet } from "./http-fetch.js";
import type { OpEnvironment } from "./types.js";

/** What a download resolved to: the content (in the content store) and how to name and date it. */
interface Resolved {
  readonly digest: Digest;
  readonly filename: string;
  /** `Last-Modified` of the response, as an HTTP date. */
  readonly lastModified?: string;
}

/** Remembered per URL (and file options) so that an unchanged ETag needs no download. */
interface UrlRecord extends Resolved {
  readonly etag?: string;
  /** The `http.checksum` this content was verified against (it differs from `digest` for sha512). */
  readonly verified?: string;
}

/**
 * `https://…` and `http://…` sources, like BuildKit's http source: the result is one file, named by
 * `http.filename`, else the response's Content-Disposition, else the URL path. Its mode is
 * `http.perm` (default 0600), its owner `http.uid`/`http.gid`, its mtime the `Last-Modified` header.
 *
 * Cache key: with `http.checksum` the key is known without any request, and a hit needs no download;
 * without it the key is the content digest, found by downloading (or by a 304 for a remembered ETag).
 * The content lives in the content store, so a file downloaded once is copied, not fetched, later.
 */
export function httpSource(
  url: string,
  attrs: Readonly<Record<string, string>>,
  env: OpEnvironment,
): Op<Ref> {
  const shown = redactUrl(url);
  const file = {
    filename: attrs["http.filename"] ?? "",
    perm: intAttr(attrs, "http.perm"),
    uid: intAttr(attrs, "http.uid"),
    gid: intAttr(attrs, "http.gid"),
  };
  const checksum = attrs["http.checksum"] as Digest | undefined;
  if (
    checksum !== undefined &&
    !/^sha(256:[a-f0-9]{64}|384:[a-f0-9]{96}|512:[a-f0-9]{128})$/.test(checksum)
  ) {
    throw new KilnError("INVALID_ARGUMENT", `unsupported checksum ${JSON.stringify(checksum)} for ${shown}`, {
      hint: "use --checksum=sha256:<64 hex digits> (or sha384:/sha512:)",
    });
  }
  const urlKey = sha256(JSON.stringify({ url, ...file })).slice(7);
  const recordPath = join(env.storeRoot, "sources", "http", `${urlKey}.json`);
  let resolved: Resolved | undefined;

  const cacheDigest = (r: { filename: string; digest: Digest; lastModified?: string | undefined }) =>
    sha256(
      `buildkit.source.v0:${JSON.stringify({
        Filename: r.filename,
        Perm: file.perm,
        UID: file.uid,
        GID: file.gid,
        Checksum: r.digest,
        ...(r.lastModified ? { LastModTime: r.lastModified } : {}),
      })}`,
    );

  const mismatch = (actual: string) =>
    new KilnError("DATA_LOSS", `checksum mismatch for ${shown}: got ${actual}, expected ${checksum}`, {
      hint: "the file at this URL is not the one --checksum names; fix the checksum or the URL",
      details: { expected: checksum, actual },
    });

  async function download(o: CallOptions, record: UrlRecord | undefined): Promise<Resolved> {
    const headers: Record<string, string> = { ...userHeaders(attrs), ...(await authHeader(url, attrs, env)) };
    if (record?.etag && (await env.content.info(record.digest, o))) headers["if-none-match"] = record.etag;
    const res = await httpGet(url, headers, o);
    if (res.status === 304 && record) {
      await res.discard();
      return record;
    }
    const filename = fileName(url, file.filename, res);
    const lastModified = validHttpDate(res.header("last-modified"));
    // The content store addresses by sha256; a sha384/sha512 checksum is computed alongside.
    const algorithm = checksum?.slice(0, checksum.indexOf(":"));
    const other = algorithm && algorithm !== "sha256" ? createHash(algorithm) : undefined;
    if (other) res.body.on("data", (chunk: Buffer) => other.update(chunk));
    let digest: Digest;
    try {
      const expected = checksum && !other ? { digest: checksum } : undefined;
      ({ digest } = await env.content.write(res.body, expected, o));
    } catch (err) {
      if (!isKilnError(err, "DATA_LOSS") || !checksum) throw err;
      throw mismatch((err.details?.actual as string | undefined) ?? "other content");
    }
    const actual = other ? `${algorithm}:${other.digest("hex")}` : undefined;
    if (actual && actual !== checksum) throw mismatch(actual);
    const out: UrlRecord = {
      digest,
      ...(checksum ? { verified: checksum } : {}),
      filename,
      ...(lastModified ? { lastModified } : {}),
      ...(res.header("etag") ? { etag: (res.header("etag") as string).replace(/^W\//, "") } : {}),
    };
    await saveRecord(recordPath, out);
    return out;
  }

  return {
    async cacheMap(o) {
      if (checksum) {
        // The key is the promised content: a cache hit needs neither a request nor a download.
        return {
          digest: cacheDigest({ filename: fileName(url, file.filename), digest: checksum }),
          deps: [],
        };
      }
      resolved = await download(o, await loadRecord(recordPath));
      return { digest: cacheDigest(resolved), deps: [] };
    },
    async exec(_inputs, o) {
      if (!resolved) {
        const record = await loadRecord(recordPath);
        resolved =
          record &&
          (record.digest === checksum || record.verified === checksum) &&
          (await env.content.info(record.digest, o))
            ? record
            : await download(o, undefined);
      }
      const r = resolved;
      const ref = await env.refs.build(
        undefined,
        `http url ${shown}`,
        async (dir) => {
          const target = join(dir, r.filename);
          await copyFile(env.content.path(r.digest), target);
          await chmod(target, file.perm || 0o600);
          if (file.uid || file.gid) await chown(target, file.uid, file.gid);
          const mtime = r.lastModified ? new Date(r.lastModified) : new Date(0);
          await utimes(target, mtime, mtime);
        },
        o,
      );
      return [ref];
    },
  };
}

/** BuildKit's file name choice: the attr, else Content-Disposition, else the URL path's last part. */
export function fileName(url: string, manual: string, res?: HttpResponse): string {
  if (manual) return safeFileName(manual);
  const disposition = res?.header("content-disposition");
  const fromHeader = disposition ? dispositionFilename(disposition) : undefined;
  if (fromHeader && !fromHeader.endsWith("/")) return safeFileName(fromHeader);
  let path = "";
  try {
    path = decodeURIComponent(new URL(url).pathname);
  } catch {}
  const base = path.replace(/\/+$/, "") === "" ? "" : basename(path);
  return safeFileName(base);
}

// --- Internal helpers ---

/** `http.header.<Name>` attrs; like BuildKit, only Accept and User-Agent are passed on. */
function userHeaders(attrs: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(attrs)) {
    const name = key.startsWith("http.header.") ? key.slice("http.header.".length).toLowerCase() : "";
    if (name === "accept" || name === "user-agent") out[name] = value;
  }
  return out;
}

/**
 * BuildKit's http auth from secrets: the `http.authheadersecret` attr names one; without it,
 * `HTTP_AUTH_HEADER_<host>` (sent as it is) and `HTTP_AUTH_TOKEN_<host>` (sent as a Bearer token)
 * are used when the build has them.
 */
async function authHeader(
  url: string,
  attrs: Readonly<Record<string, string>>,
  env: OpEnvironment,
): Promise<Record<string, string>> {
  if (!env.secret) return {};
  const named = attrs["http.authheadersecret"];
  const host = new URL(url).hostname;
  const candidates = named
    ? [{ id: named, bearer: false }]
    : [
        { id: `HTTP_AUTH_HEADER_${host}`, bearer: false },
        { id: `HTTP_AUTH_TOKEN_${host}`, bearer: true },
      ];
  let found: string | undefined;
  for (const { id, bearer } of candidates) {
    const value = await env.secret(id);
    if (value !== undefined) found = `${bearer ? "Bearer " : ""}${Buffer.from(value).toString("utf8")}`;
  }
  if (named && found === undefined) {
    throw new KilnError("NOT_FOUND", `secret ${named} for the http auth header was not found`, {
      hint: `--secret id=${named},src=FILE`,
    });
  }
  return found === undefined ? {} : { authorization: found };
}

function safeFileName(name: string): string {
  const base = basename(name.trim());
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is rejected
  if (base === "" || base === "." || base === ".." || base === "/" || /[\u0000-\u001f\u007f]/.test(base)) {
    return "download";
  }
  return base;
}

function dispositionFilename(header: string): string | undefined {
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
  if (star?.[1]) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch {}
  }
  const m = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(header);
  return m ? (m[1]?.replace(/\\(.)/g, "$1") ?? m[2]) : undefined;
}

function validHttpDate(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toUTCString();
}

/** Go's strconv.ParseInt(v, 0, 64): `0644` is octal, `0x1a4` hex, `420` decimal. */
function intAttr(attrs: Readonly<Record<string, string>>, key: string): number {
  const v = attrs[key];
  if (!v) return 0;
  const n = /^0[0-7]+$/.test(v) ? Number.parseInt(v, 8) : Number(v.replace(/^0o/, "0o"));
  if (!Number.isInteger(n) || n < 0) {
    throw new KilnError("INVALID_ARGUMENT", `invalid ${key} value ${JSON.stringify(v)}`);
  }
  return n;
}

async function loadRecord(path: string): Promise<UrlRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as UrlRecord;
  } catch {
    return undefined;
  }
}

async function saveRecord(path: string, record: UrlRecord): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, JSON.stringify(record));
  await rename(tmp, path);
}
