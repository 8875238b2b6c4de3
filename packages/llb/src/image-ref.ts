import { KilnError } from "@kiln/core";

/*
 * Docker image reference normalisation (the rules of distribution/reference's ParseNormalizedNamed +
 * TagNameOnly): `busybox` → `docker.io/library/busybox:latest`.
 */

const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
const REFERENCE = new RegExp(
  `^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`,
);
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const NAME_MAX = 255;

export interface ImageReference {
  /** `docker.io`, `ghcr.io`, `localhost:5000`, ... */
  readonly domain: string;
  /** Repository path without the domain, e.g. `library/busybox`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

function invalid(ref: string, why: string): KilnError {
  return new KilnError("INVALID_ARGUMENT", `invalid image reference ${JSON.stringify(ref)}: ${why}`, {
    hint: "use [registry/]repository[:tag][@digest], e.g. docker.io/library/alpine:3.20",
  });
}

/** Parses and normalises a reference; a reference without tag or digest gets `:latest`. */
export function parseImageRef(ref: string): ImageReference {
  if (/^[a-f0-9]{64}$/.test(ref)) throw invalid(ref, "a 64-character hex string is an image id, not a name");
  const slash = ref.indexOf("/");
  const first = slash < 0 ? "" : ref.slice(0, slash);
  let domain = "docker.io";
  let remainder = ref;
  if (slash >= 0 && (/[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first)) {
    domain = first;
    remainder = ref.slice(slash + 1);
  }
  if (domain === "index.docker.io") domain = "docker.io";
  if (domain === "docker.io" && !remainder.includes("/")) remainder = `library/${remainder}`;
  const colon = remainder.indexOf(":");
  const repo = colon < 0 ? remainder : remainder.slice(0, colon);
  if (repo.toLowerCase() !== repo) throw invalid(ref, "repository name must be lowercase");

  const m = REFERENCE.exec(`${domain}/${remainder}`);
  if (!m) throw invalid(ref, "invalid reference format");
  const [, name = "", tag, digest] = m;
  if (name.length > NAME_MAX)
    throw invalid(ref, `repository name must not be longer than ${NAME_MAX} characters`);
  if (digest) {
    const [algorithm = "", hex = ""] = digest.split(":");
    if (DIGEST_HEX_LENGTH[algorithm] !== hex.length || /[A-F]/.test(hex)) {
      throw invalid(ref, `unsupported or malformed digest ${digest}`);
    }
  }
  const out: { domain: string; path: string; tag?: string; digest?: string } = {
    domain,
    path: name.slice(domain.length + 1),
  };
  if (tag) out.tag = tag;
  if (digest) out.digest = digest;
  if (!tag && !digest) out.tag = "latest";
  return out;
}

export function formatImageRef(r: ImageReference): string {
  return `${r.domain}/${r.path}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}

/** `busybox` → `docker.io/library/busybox:latest`; `x@sha256:…` keeps its digest and gets no tag. */
export function normalizeImageRef(ref: string): string {
  return formatImageRef(parseImageRef(ref));
}
