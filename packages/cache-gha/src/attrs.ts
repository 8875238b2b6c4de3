import { inspect } from "node:util";
import { KilnError } from "@kiln/core";
import {
  DEFAULT_RATE_LIMIT,
  DEFAULT_SCOPE,
  DEFAULT_SIZE_BUDGET,
  DEFAULT_TIMEOUT_MS,
  type GhaCacheOptions,
} from "./options.js";

type Attrs = Readonly<Record<string, string>>;
type Env = Readonly<Record<string, string | undefined>>;

/** BuildKit's gha attributes, kiln's own, and the generic cache attributes the cache layer handles. */
const KNOWN = new Set([
  "scope",
  "token",
  "url",
  "url_v2",
  "version",
  "timeout",
  // Accepted for compatibility: BuildKit lists existing blob keys through the REST API with them;
  // kiln learns that from reservation conflicts instead and never calls api.github.com.
  "repository",
  "ghtoken",
  "rate_limit",
  "size_budget",
  "mode",
  "ignore-error",
  "compression",
  "compression-level",
  "force-compression",
]);

const invalid = (message: string, hint?: string) =>
  new KilnError("INVALID_ARGUMENT", `gha cache: ${message}`, hint === undefined ? {} : { hint });

/** Go's strconv.ParseBool, which buildx uses for ACTIONS_CACHE_SERVICE_V2. */
export function parseGoBool(value: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  return undefined;
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration (`10m`, `1h30m`, `1.5s`, `250ms`), in milliseconds. */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] ?? ""] ?? Number.NaN);
    end = re.lastIndex;
  }
  return end === text.length && end > 0 && Number.isFinite(total) ? total : undefined;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/** `512MiB`, `10GB`, `1.5g`, `1048576`: decimal (kB, MB, GB) or binary (KiB, MiB, GiB) units. */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = SIZE_UNITS[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}

/**
 * The CLI form `type=gha,k=v` to options, with buildx's environment fallbacks (ACTIONS_RUNTIME_TOKEN,
 * ACTIONS_CACHE_URL, ACTIONS_RESULTS_URL, ACTIONS_CACHE_SERVICE_V2) and BuildKit's API version rules:
 * an explicit `version`; otherwise `url_v2` (set from ACTIONS_RESULTS_URL when ACTIONS_CACHE_SERVICE_V2
 * is true) means v2; otherwise a results-receiver URL means v2, anything else v1.
 */
export function parseGhaAttrs(attrs: Attrs, env: Env): GhaCacheOptions {
  for (const name of Object.keys(attrs)) {
    if (!KNOWN.has(name)) {
      throw invalid(`unknown attribute "${name}"`, `known: ${[...KNOWN].join(", ")}`);
    }
  }
  let versionAttr = attrs.version;
  if (versionAttr === undefined && env.ACTIONS_CACHE_SERVICE_V2 !== undefined) {
    if (parseGoBool(env.ACTIONS_CACHE_SERVICE_V2) === true) versionAttr = "2";
  }
  const token = attrs.token ?? env.ACTIONS_RUNTIME_TOKEN;
  if (!token) {
    throw invalid(
      "token not set for github actions cache",
      "run inside a GitHub Actions job that exposes ACTIONS_RUNTIME_TOKEN (e.g. crazy-max/ghaction-github-runtime) or pass token=…",
    );
  }
  const urlV2 = attrs.url_v2 ?? (versionAttr === "2" ? env.ACTIONS_RESULTS_URL : undefined);
  const urlV1 = attrs.url ?? env.ACTIONS_CACHE_URL ?? env.ACTIONS_RESULTS_URL;

  let apiVersion: number | undefined;
  if (versionAttr !== undefined) {
    if (!/^\d+$/.test(versionAttr)) throw invalid(`version must be 1 or 2, got "${versionAttr}"`);
    apiVersion = Number(versionAttr);
  }
  let url: string | undefined;
  if (apiVersion !== 1 && urlV2) {
    url = urlV2;
    apiVersion = 2;
  }
  url ??= urlV1;
  if (!url) {
    throw invalid(
      "url not set for github actions cache",
      "set url=… (v1) or url_v2=… (v2), or ACTIONS_RESULTS_URL",
    );
  }
  apiVersion ??= url.includes("results-receiver.actions.githubusercontent.com") ? 2 : 1;
  if (apiVersion !== 1 && apiVersion !== 2) throw invalid(`version must be 1 or 2, got "${versionAttr}"`);
  try {
    new URL(url);
  } catch {
    throw invalid("url is not a valid URL");
  }

  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (attrs.timeout !== undefined) {
    const parsed = parseGoDuration(attrs.timeout);
    if (parsed === undefined || parsed <= 0)
      throw invalid(`timeout: invalid duration "${attrs.timeout}"`, "e.g. 10m, 90s, 1h30m");
    timeoutMs = parsed;
  }

  return withRedactedToken({
    scope: attrs.scope ?? DEFAULT_SCOPE,
    token,
    url,
    apiVersion,
    timeoutMs,
    rateLimit: parseRateLimit(attrs.rate_limit),
    sizeBudget: parseSizeBudget(attrs.size_budget),
  });
}

/**
 * Options travel through the CLI, build records and maybe provenance: JSON and `util.inspect` of them
 * show `token: "***"`. (Non-enumerable, so a spread copy keeps the token but not this safety net.)
 */
export function withRedactedToken(options: GhaCacheOptions): GhaCacheOptions {
  const redacted = () => ({ ...options, token: "***" });
  Object.defineProperty(options, "toJSON", { value: redacted, enumerable: false });
  Object.defineProperty(options, inspect.custom, { value: redacted, enumerable: false });
  return options;
}

/** `rate_limit=<requests>/<duration>` (default `150/5m`) or `off`. */
function parseRateLimit(text: string | undefined): GhaCacheOptions["rateLimit"] {
  if (text === undefined) return DEFAULT_RATE_LIMIT;
  if (text === "off") return undefined;
  const m = /^(\d+)\/(.+)$/.exec(text);
  const perMs = m?.[2] === undefined ? undefined : parseGoDuration(m[2]);
  if (!m || perMs === undefined || perMs <= 0 || Number(m[1]) < 1) {
    throw invalid(
      `rate_limit: expected <requests>/<duration> or off, got "${text}"`,
      "e.g. rate_limit=150/5m",
    );
  }
  return { requests: Number(m[1]), perMs };
}

/** `size_budget=<size>` (default `10GiB`) or `off`. */
function parseSizeBudget(text: string | undefined): number | undefined {
  if (text === undefined) return DEFAULT_SIZE_BUDGET;
  if (text === "off") return undefined;
  const size = parseByteSize(text);
  if (size === undefined)
    throw invalid(`size_budget: invalid size "${text}"`, "e.g. size_budget=4GiB or off");
  return size;
}
