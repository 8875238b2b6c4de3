import { dirname, isAbsolute, resolve } from "node:path";
import { KilnError } from "@kiln/core";
import { parse, TomlError } from "smol-toml";
import { apiHost, isLoopbackHost, splitHostPort } from "./names.js";

/** Per-registry settings, the shape of buildkitd.toml's `[registry."host"]` sections. */
export interface RegistryHostConfig {
  /** Plain HTTP (`true`) or HTTPS (`false`); unset means HTTPS except for loopback hosts. */
  readonly http?: boolean;
  /** HTTPS without certificate verification. */
  readonly insecure?: boolean;
  /** PEM files with CA certificates to trust for this host, in addition to the system roots. */
  readonly ca?: readonly string[];
  /** `host[:port][/path]` mirrors tried, in order, before the registry itself for pulls. */
  readonly mirrors?: readonly string[];
}

/** Registry settings by host (`docker.io`, `registry:5000`, `[::1]:5000`). */
export interface RegistryConfig {
  readonly hosts: Readonly<Record<string, RegistryHostConfig>>;
}

export const emptyRegistryConfig: RegistryConfig = { hosts: {} };

/**
 * Reads the `[registry."host"]` sections of a `kiln.toml`. `file` (the TOML's path) makes relative `ca`
 * paths relative to the file and is named in errors.
 */
export function parseRegistryConfig(tomlText: string, options: { file?: string } = {}): RegistryConfig {
  const file = options.file ?? "kiln.toml";
  let doc: Record<string, unknown>;
  try {
    doc = parse(tomlText) as Record<string, unknown>;
  } catch (err) {
    const line = err instanceof TomlError ? err.line : 1;
    throw new KilnError(
      "INVALID_ARGUMENT",
      `${file}: invalid TOML: ${(err as Error).message.split("\n")[0]}`,
      {
        cause: err,
        location: { file, line },
      },
    );
  }
  const section = doc.registry;
  if (section === undefined) return emptyRegistryConfig;
  const bad = (what: string): KilnError =>
    new KilnError("INVALID_ARGUMENT", `${file}: ${what}`, {
      hint: '[registry."host:port"] takes http = bool, insecure = bool, ca = ["file.pem"], mirrors = ["host:port"]',
    });
  if (!isTable(section)) throw bad("`registry` must be a table of hosts");
  const hosts: Record<string, RegistryHostConfig> = {};
  for (const [host, value] of Object.entries(section)) {
    if (!isTable(value)) throw bad(`registry.${JSON.stringify(host)} must be a table`);
    const out: { -readonly [K in keyof RegistryHostConfig]: RegistryHostConfig[K] } = {};
    for (const [key, v] of Object.entries(value)) {
      const where = `registry.${JSON.stringify(host)}.${key}`;
      if (key === "http" || key === "insecure") {
        if (typeof v !== "boolean") throw bad(`${where} must be true or false`);
        out[key] = v;
      } else if (key === "ca" || key === "mirrors") {
        if (!Array.isArray(v) || !v.every((x) => typeof x === "string" && x !== "")) {
          throw bad(`${where} must be an array of strings`);
        }
        out[key] =
          key === "ca" && options.file
            ? v.map((p: string) => (isAbsolute(p) ? p : resolve(dirname(file), p)))
            : [...(v as string[])];
      }
      // Other keys of buildkitd.toml (keypair, tlsconfigdir) are not supported yet and are ignored.
    }
    hosts[host] = out;
  }
  return { hosts };
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** The config for a host; `docker.io` also answers to its API host and `index.docker.io`. */
export function hostConfig(config: RegistryConfig, host: string): RegistryHostConfig {
  return (
    config.hosts[host] ??
    config.hosts[apiHost(host)] ??
    (host === "registry-1.docker.io" ? config.hosts["docker.io"] : undefined) ??
    {}
  );
}

export interface TlsSettings {
  readonly ca?: readonly string[];
  readonly insecure?: boolean;
}

/** One place to send requests for a registry: the registry itself or one of its mirrors. */
export interface Endpoint {
  /** `host[:port]` that requests go to (and the key for tokens, limits and credentials). */
  readonly host: string;
  /** Schemes to try in order; a second one is used only when the first fails at the TLS handshake. */
  readonly schemes: readonly ("https" | "http")[];
  /** Path before `/<repository>/…`: `/v2`, or `/v2/<path>` for a mirror written `host/path`. */
  readonly prefix: string;
  readonly tls: TlsSettings;
  readonly mirror: boolean;
}

/**
 * Endpoints for a registry host: its mirrors first when `pull` is set, then the registry. `insecure`
 * is the per-request `registry.insecure` attribute: HTTPS without verification, falling back to HTTP.
 */
export function endpointsFor(
  config: RegistryConfig,
  host: string,
  options: { pull: boolean; insecure?: boolean },
): Endpoint[] {
  const own = hostConfig(config, host);
  const out: Endpoint[] = [];
  if (options.pull) {
    for (const mirror of own.mirrors ?? []) {
      const slash = mirror.indexOf("/");
      const mirrorHost = slash < 0 ? mirror : mirror.slice(0, slash);
      const path = slash < 0 ? "" : mirror.slice(slash).replace(/\/+$/, "");
      out.push(endpoint(config, mirrorHost, `/v2${path}`, options.insecure === true, true));
    }
  }
  out.push(endpoint(config, apiHost(host), "/v2", options.insecure === true, false));
  return out;
}

function endpoint(
  config: RegistryConfig,
  host: string,
  prefix: string,
  insecureAttr: boolean,
  mirror: boolean,
) {
  const c = hostConfig(config, host);
  const tls: TlsSettings = {
    ...(c.ca ? { ca: c.ca } : {}),
    ...(c.insecure || insecureAttr ? { insecure: true } : {}),
  };
  let schemes: ("https" | "http")[];
  if (c.http === true) schemes = ["http"];
  else if (c.http === false || c.ca !== undefined || c.insecure === true) schemes = ["https"];
  else if (insecureAttr) schemes = ["https", "http"];
  else schemes = isLoopbackHost(host) ? ["http"] : ["https"];
  return { host, schemes, prefix, tls, mirror } satisfies Endpoint;
}

/** `https://host:port` for an endpoint and scheme (IPv6 literals keep their brackets). */
export function originOf(host: string, scheme: "https" | "http"): string {
  const { hostname, port } = splitHostPort(host);
  const h = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `${scheme}://${h}${port === undefined ? "" : `:${port}`}`;
}
