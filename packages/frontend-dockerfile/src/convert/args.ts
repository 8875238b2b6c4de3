import { formatPlatform, hostPlatform, type Platform } from "@kiln/core";

/**
 * Build-argument scopes (BuildKit semantics): global ARGs before the first FROM are visible to FROM
 * lines; inside a stage an ARG must be declared again, taking the `--build-arg` value, else its own
 * default, else the global value. The automatic platform ARGs live in the global scope.
 */
export function platformArgs(target: Platform, build: Platform = hostPlatform()): Map<string, string> {
  return new Map([
    ["BUILDPLATFORM", formatPlatform(build)],
    ["BUILDOS", build.os],
    ["BUILDARCH", build.architecture],
    ["BUILDVARIANT", build.variant ?? ""],
    ["TARGETPLATFORM", formatPlatform(target)],
    ["TARGETOS", target.os],
    ["TARGETARCH", target.architecture],
    ["TARGETVARIANT", target.variant ?? ""],
  ]);
}

/** Build args given by the user, with a record of which ones an ARG consumed. */
export interface BuildArgs {
  get(name: string): string | undefined;
  unused(): string[];
}

export function createBuildArgs(attrs: Readonly<Record<string, string>>): BuildArgs {
  const values = new Map<string, string>();
  for (const [k, v] of Object.entries(attrs)) if (k.startsWith("build-arg:")) values.set(k.slice(10), v);
  const used = new Set<string>();
  return {
    get(name) {
      if (!values.has(name)) return undefined;
      used.add(name);
      return values.get(name);
    },
    // Like BuildKit, args that Docker defines implicitly never count as unused.
    unused: () => [...values.keys()].filter((k) => !used.has(k) && !IMPLICIT_ARGS.has(k)).sort(),
  };
}

const IMPLICIT_ARGS = new Set([
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "FTP_PROXY",
  "ftp_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
  "SOURCE_DATE_EPOCH",
  "BUILDKIT_INLINE_CACHE",
  "BUILDKIT_SYNTAX",
  "BUILDKIT_DOCKERFILE_CHECK",
  "BUILDKIT_CONTEXT_KEEP_GIT_DIR",
]);

/** The proxy settings of an ExecOp (`pb.ProxyEnv`'s fields). */
export interface ProxyEnv {
  httpProxy?: string;
  httpsProxy?: string;
  ftpProxy?: string;
  noProxy?: string;
  allProxy?: string;
}

const PROXY_FIELDS: Readonly<Record<string, keyof ProxyEnv>> = {
  http_proxy: "httpProxy",
  https_proxy: "httpsProxy",
  ftp_proxy: "ftpProxy",
  no_proxy: "noProxy",
  all_proxy: "allProxy",
};

/**
 * Proxy build args (any case of HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, NO_PROXY, ALL_PROXY) reach every
 * RUN without an ARG declaration, as the ExecOp's proxy settings: the step sees them, but they stay
 * out of its cache key, the image config and the history. With several spellings of one name, the
 * last in byte order wins, as in BuildKit.
 */
export function proxyEnvFromBuildArgs(attrs: Readonly<Record<string, string>>): ProxyEnv | undefined {
  const out: ProxyEnv = {};
  let any = false;
  const names = Object.keys(attrs)
    .filter((k) => k.startsWith("build-arg:"))
    .sort();
  for (const key of names) {
    const field = PROXY_FIELDS[key.slice(10).toLowerCase()];
    if (!field) continue;
    out[field] = attrs[key] ?? "";
    any = true;
  }
  return any ? out : undefined;
}
