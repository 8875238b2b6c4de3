import { type Digest, isDigest, KilnError } from "@kiln/core";

/** A parsed `oci-layout://` value (buildx named contexts, `--build-context name=oci-layout:///dir:tag`). */
export interface OciLayoutRef {
  /** Absolute path of the layout directory. */
  readonly path: string;
  /** `latest` when neither a tag nor a digest is given. */
  readonly tag?: string;
  readonly digest?: Digest;
}

const SCHEME = "oci-layout://";
const TAG_RE = /^[\w][\w.-]{0,127}$/;

function invalid(value: string, why: string): KilnError {
  return new KilnError("INVALID_ARGUMENT", `invalid oci-layout reference ${JSON.stringify(value)}: ${why}`, {
    hint: "use oci-layout:///absolute/path[:tag|@sha256:<digest>]",
  });
}

/** Parses `oci-layout:///abs/path[:tag][@sha256:…]`. */
export function parseOciLayoutRef(value: string): OciLayoutRef {
  if (!value.startsWith(SCHEME)) throw invalid(value, `it does not start with ${SCHEME}`);
  let rest = value.slice(SCHEME.length);
  let digest: Digest | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const candidate = rest.slice(at + 1);
    if (!isDigest(candidate)) throw invalid(value, `bad digest ${JSON.stringify(candidate)}`);
    digest = candidate;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(value, `bad tag ${JSON.stringify(tag)}`);
  }
  if (!rest.startsWith("/")) throw invalid(value, "the path must be absolute");
  const path = rest.length > 1 ? rest.replace(/\/+$/, "") : rest;
  if (digest !== undefined) return tag === undefined ? { path, digest } : { path, tag, digest };
  return { path, tag: tag ?? "latest" };
}
