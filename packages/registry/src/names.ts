import { isIP } from "node:net";
import { type Digest, isDigest, KilnError } from "@kiln/core";
import { parseImageName } from "@kiln/oci";

/** An image reference split into what the distribution API needs. */
export interface RegistryRef {
  /** Registry host as users write it (`docker.io`, `127.0.0.1:5000`), port included. */
  readonly host: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
  /** Normalised name: `docker.io/library/busybox:latest`, `host:5000/app:v1@sha256:…`. */
  readonly name: string;
}

const DOCKER_HUB = "docker.io";
/** Docker Hub's API lives on another host than the one in image names. */
const DOCKER_HUB_ENDPOINT = "registry-1.docker.io";

/**
 * Normalises a reference like Docker does (`busybox` → `docker.io/library/busybox:latest`) through
 * `@kiln/oci`'s `parseImageName`; kiln only addresses content by sha256, so other digests are rejected.
 */
export function parseRegistryRef(text: string | RegistryRef): RegistryRef {
  if (typeof text !== "string") return text;
  const parsed = parseImageName(text);
  if (parsed.digest !== undefined && !isDigest(parsed.digest)) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `invalid image name ${JSON.stringify(text)}: only sha256 digests are supported`,
      {
        hint: "kiln addresses content by sha256 only: name@sha256:<64 hex characters>",
      },
    );
  }
  return makeRef(parsed.domain, parsed.path, parsed.tag, parsed.digest as Digest | undefined);
}

function makeRef(host: string, repository: string, tag: string | undefined, digest: Digest | undefined) {
  const name = `${host}/${repository}${tag === undefined ? "" : `:${tag}`}${digest === undefined ? "" : `@${digest}`}`;
  return { host, repository, tag, digest, name };
}

/** The same repository addressed by digest (the tag is kept in `name` for display). */
export function withDigest(ref: RegistryRef, digest: Digest): RegistryRef {
  return makeRef(ref.host, ref.repository, ref.tag, digest);
}

/** What goes after `/manifests/`: the digest when pinned, else the tag. */
export function manifestReference(ref: RegistryRef): string {
  const reference = ref.digest ?? ref.tag;
  if (reference === undefined)
    throw new KilnError("INVALID_ARGUMENT", `${ref.name} has neither tag nor digest`);
  return reference;
}

/** The host that serves the API for a registry name (`docker.io` → `registry-1.docker.io`). */
export function apiHost(host: string): string {
  return host === DOCKER_HUB || host === "index.docker.io" ? DOCKER_HUB_ENDPOINT : host;
}

/** Splits `host[:port]`, `[v6]:port` into hostname and port text. */
export function splitHostPort(host: string): { hostname: string; port: string | undefined } {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    const rest = host.slice(end + 1);
    return { hostname: host.slice(1, end), port: rest.startsWith(":") ? rest.slice(1) : undefined };
  }
  const colon = host.lastIndexOf(":");
  if (colon >= 0 && host.indexOf(":") === colon) {
    return { hostname: host.slice(0, colon), port: host.slice(colon + 1) };
  }
  return { hostname: host, port: undefined };
}

/** True for `localhost`, `127.0.0.0/8` and `::1`, with or without a port: those default to plain HTTP. */
export function isLoopbackHost(host: string): boolean {
  const { hostname } = splitHostPort(host);
  if (hostname === "localhost" || hostname.endsWith(".localhost")) return true;
  if (isIP(hostname) === 4) return hostname.startsWith("127.");
  return hostname === "::1" || hostname === "0:0:0:0:0:0:0:1";
}
