import {
  type BlobStore,
  type CacheBackend,
  type CacheBackendContext,
  type CacheBackendModule,
  type CallOptions,
  type Digest,
  isDigest,
  KilnError,
  type ProgressWriter,
  type Ref,
  type ResultCache,
  redactCredentials,
} from "@kiln/core";
import type { LazyRefFactory } from "../lazy-ref.js";
import { localCacheModule, pointerNames } from "./backends.js";
import { readBlobBytes } from "./blob-io.js";
import type { CacheExportMode } from "./graph-chains.js";
import { type ImportedCache, indexCacheConfig, readCacheImport } from "./import.js";
import { type CacheMountOptions, parseCacheMountAttrs, withoutCacheMountAttrs } from "./mounts/attrs.js";
import { cacheStep } from "./progress.js";
import type { CacheLayout } from "./write.js";

/**
 * One `--cache-to` / `--cache-from` entry. Library users may hand over a configured `backend` (e.g.
 * `s3Cache({ bucket, region })`: its pointer names and upload parallelism apply, `attrs` still carry
 * `mode`/`ignore-error`) or a ready `store`.
 */
export interface CacheSpec {
  readonly type: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly backend?: CacheBackend;
  readonly store?: BlobStore;
}

/** Backend modules by `type`. `inline` is not a module: the image exporter writes it. */
export type CacheModules = Readonly<Record<string, CacheBackendModule | undefined>>;

/** Types whose modules ship in their own packages (`@kiln/cache-<type>`), wired by the caller. */
const SEPARATE_PACKAGES = new Set(["registry", "s3", "gha", "azblob"]);
const JSON_LAYOUT_TYPES = new Set(["s3", "gha", "azblob"]);

export function defaultCacheModules(): Record<string, CacheBackendModule> {
  return { local: localCacheModule as CacheBackendModule };
}

export interface ResolvedCacheExport {
  readonly type: string;
  readonly store: BlobStore;
  readonly names: readonly string[];
  /** For progress and messages: `type=local /path`, without credentials. */
  readonly label: string;
  readonly mode: CacheExportMode;
  /** `true`: failures only warn (kiln's default); `false` only when given explicitly. */
  readonly ignoreError: boolean;
  readonly layout: CacheLayout;
  /** S3's `touch_refresh` (a Go duration such as `24h`), in milliseconds. */
  readonly touchAfterMs?: number;
  /** `cache-mounts=true`: `RUN --mount=type=cache` contents go along (kiln's own attribute). */
  readonly cacheMounts?: CacheMountOptions;
  /** Blobs uploaded at once, when the backend asks for a number (S3 `upload_parallelism`). */
  readonly uploadParallelism?: number;
  readonly warnings: readonly string[];
}

export interface ResolvedCacheImport {
  readonly type: string;
  readonly store: BlobStore;
  readonly name: string;
  readonly digest?: Digest;
  readonly label: string;
  readonly cacheMounts?: CacheMountOptions;
}

function backendFor(
  spec: CacheSpec,
  modules: CacheModules,
  env: Readonly<Record<string, string | undefined>>,
  context: CacheBackendContext,
): { store: BlobStore; backend?: CacheBackend } {
  if (spec.store) return { store: spec.store };
  if (spec.backend) return { store: spec.backend.create(), backend: spec.backend };
  const module = modules[spec.type];
  if (!module) {
    if (SEPARATE_PACKAGES.has(spec.type)) {
      throw new KilnError("NOT_IMPLEMENTED", `cache type=${spec.type} is not available in this kiln build`, {
        hint: `it comes from @kiln/cache-${spec.type}; available here: ${Object.keys(modules).sort().join(", ")}`,
      });
    }
    throw new KilnError("INVALID_ARGUMENT", `unknown cache type ${JSON.stringify(spec.type)}`, {
      hint: `use one of: ${[...new Set([...Object.keys(modules), "inline", ...SEPARATE_PACKAGES])].sort().join(", ")}`,
    });
  }
  // kiln's cache-mounts attributes mean the same on every backend; backends never see them.
  const backend = module.backend(module.parseAttrs(withoutCacheMountAttrs(spec.attrs), env), context);
  return { store: backend.create(), backend };
}

/** The backend's own pointer names when it reports them (its parsed options are the truth), else the attributes'. */
function namesOf(spec: CacheSpec, backend: CacheBackend | undefined): readonly string[] {
  const own = backend?.pointerNames;
  return own && own.length > 0 ? own : pointerNames(spec.type, spec.attrs);
}

/** Validates `--cache-to` entries before the build starts (bad attributes fail fast). */
export function resolveCacheExport(
  spec: CacheSpec,
  modules: CacheModules,
  env: Readonly<Record<string, string | undefined>> = {},
  context: CacheBackendContext = {},
): ResolvedCacheExport {
  const a = spec.attrs;
  const mode = a.mode ?? "min";
  if (mode !== "min" && mode !== "max") {
    throw new KilnError("INVALID_ARGUMENT", `cache mode ${JSON.stringify(mode)}: use min or max`);
  }
  const warnings: string[] = [];
  if (a.compression && a.compression !== "gzip") {
    warnings.push(
      `cache type=${spec.type}: compression=${a.compression} is not applied; layers are exported as they were built (gzip), never re-compressed`,
    );
  }
  if (parseBool(a["oci-mediatypes"], "oci-mediatypes") === false) {
    warnings.push(`cache type=${spec.type}: oci-mediatypes=false is not supported; OCI media types are used`);
  }
  const imageManifest = parseBool(a["image-manifest"], "image-manifest") ?? true;
  const cacheMounts = parseCacheMountAttrs(a);
  const { store, backend } = backendFor(spec, modules, env, context);
  return {
    type: spec.type,
    store,
    names: namesOf(spec, backend),
    label: labelOf(spec),
    mode,
    ignoreError: parseBool(a["ignore-error"], "ignore-error") ?? true,
    layout: JSON_LAYOUT_TYPES.has(spec.type) ? "json" : imageManifest ? "manifest" : "index",
    ...(a.touch_refresh !== undefined
      ? { touchAfterMs: parseDuration(a.touch_refresh, "touch_refresh") }
      : {}),
    ...(cacheMounts ? { cacheMounts } : {}),
    ...(backend?.uploadParallelism !== undefined ? { uploadParallelism: backend.uploadParallelism } : {}),
    warnings,
  };
}

export function resolveCacheImport(
  spec: CacheSpec,
  modules: CacheModules,
  env: Readonly<Record<string, string | undefined>> = {},
  context: CacheBackendContext = {},
): ResolvedCacheImport {
  const digest = spec.attrs.digest;
  if (digest !== undefined && !isDigest(digest)) {
    throw new KilnError("INVALID_ARGUMENT", `cache digest=${JSON.stringify(digest)} is not a sha256 digest`);
  }
  const cacheMounts = parseCacheMountAttrs(spec.attrs);
  const { store, backend } = backendFor(spec, modules, env, context);
  const name = namesOf(spec, backend)[0] ?? "latest";
  return {
    type: spec.type,
    store,
    name,
    ...(digest ? { digest } : {}),
    label: labelOf(spec),
    ...(cacheMounts ? { cacheMounts } : {}),
  };
}

/**
 * The solver's cache with imported caches behind it: a local miss asks each import in order. An
 * import is read (pointer, manifest, config only) on the first lookup; a failing import warns once and
 * then counts as empty. Hits are lazy refs: no blob moves until a result is really used.
 */
export function createImportingCache(
  local: ResultCache<Ref>,
  imports: readonly ResolvedCacheImport[],
  lazy: LazyRefFactory,
  warn: (message: string) => void,
  o?: CallOptions & { progress?: ProgressWriter },
): ResultCache<Ref> {
  const loaded = imports.map((imp) => {
    let promise: Promise<ImportedCache | undefined> | undefined;
    return () => {
      promise ??= loadImport(imp, o).catch((err: unknown) => {
        warn(`cache import ${imp.label} failed, continuing without it: ${messageOf(err)}`);
        return undefined;
      });
      return promise;
    };
  });
  return {
    async load(key, lo) {
      const hit = await local.load(key, lo);
      if (hit) return hit;
      for (const [i, get] of loaded.entries()) {
        const cache = await get();
        const result = cache?.lookup(key, lo?.describeKey);
        const imp = imports[i];
        // Once applied (a dependent ran on it), the result is filed in the local cache too, like
        // BuildKit copying loaded remote results into its main cache: later builds need no import.
        if (result && imp) {
          return lazy.create(result.layers, imp.store, `cache ${imp.label}`, (ref) =>
            local.save(key, ref, { vertex: key, description: `imported from ${imp.label}` }),
          );
        }
      }
      return undefined;
    },
    save: (key, result, info) => local.save(key, result, info),
  };

  async function loadImport(imp: ResolvedCacheImport, lo?: CallOptions): Promise<ImportedCache | undefined> {
    const step = cacheStep(o?.progress, `importing cache manifest from ${imp.label}`);
    try {
      const imported = await readImport(imp, lo);
      if (imported) step.status(`${imported.keyCount} cached results`);
      step.done();
      return imported;
    } catch (err) {
      step.done(messageOf(err));
      throw err;
    }
  }

  async function readImport(imp: ResolvedCacheImport, lo?: CallOptions): Promise<ImportedCache | undefined> {
    let pointer: Uint8Array | undefined;
    if (imp.digest) {
      const info = await imp.store.info(imp.digest, lo);
      if (!info) throw new KilnError("NOT_FOUND", `cache manifest ${imp.digest} not found`);
      pointer = await readBlobBytes(
        imp.store,
        { mediaType: "application/json", digest: imp.digest, size: info.size },
        lo,
      );
    } else pointer = (await imp.store.readPointer(imp.name, lo))?.data;
    if (!pointer) {
      warn(`cache import ${imp.label}: no cache named ${JSON.stringify(imp.name)} yet`);
      return undefined;
    }
    const { config, layers } = await readCacheImport(imp.store, pointer, lo);
    return indexCacheConfig(config, layers);
  }
}

function labelOf(spec: CacheSpec): string {
  const a = spec.attrs;
  const where = a.src ?? a.dest ?? a.ref ?? a.bucket ?? a.scope ?? "";
  return redactCredentials(`type=${spec.type}${where ? ` ${where}` : ""}`);
}

function parseBool(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value === "") return undefined;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new KilnError(
    "INVALID_ARGUMENT",
    `cache attribute ${name}=${JSON.stringify(value)}: expected true or false`,
  );
}

/** Go's `time.ParseDuration` subset BuildKit attributes use: `1h30m`, `45s`, `500ms`. */
export function parseDuration(value: string, name: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * (units[m[2] as string] as number);
    consumed = re.lastIndex;
  }
  if (value === "" || consumed !== value.length) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `cache attribute ${name}=${JSON.stringify(value)}: expected a duration like 24h`,
    );
  }
  return total;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
