import { KilnError } from "@kiln/core";

/** An image name split the way Docker splits it, with Docker Hub defaults applied. */
export interface ImageName {
  readonly domain: string;
  /** Repository path, e.g. `library/hello`. */
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
  /** `docker.io/library/hello:latest` */
  readonly full: string;
  /** `hello:latest` (how `docker images` and `RepoTags` show it). */
  readonly familiar: string;
}

const DEFAULT_DOMAIN = "docker.io";
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_RE =
  /^(?:\[[a-fA-F0-9:]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]+)?$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

function invalid(text: string, why: string): KilnError {
  return new KilnError("INVALID_ARGUMENT", `invalid image name ${JSON.stringify(text)}: ${why}`, {
    hint: "use [registry/]repository[:tag][@sha256:digest] with a lowercase repository, e.g. hello:latest",
  });
}

/**
 * Normalises an image name like Docker does: `hello` → `docker.io/library/hello:latest`,
 * `index.docker.io/x/y` → `docker.io/x/y:latest`. A name with only a digest gets no tag.
 */
export function parseImageName(text: string): ImageName {
  let rest = text.trim();
  if (rest === "") throw invalid(text, "empty name");
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid(text, "bad digest");
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(text, "bad tag");
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // Docker's rule: the first component is a registry host when it looks like one.
    if (
      first.includes(".") ||
      first.includes(":") ||
      first === "localhost" ||
      first !== first.toLowerCase()
    ) {
      if (!DOMAIN_RE.test(first)) throw invalid(text, "bad registry host");
      domain = first === "index.docker.io" ? DEFAULT_DOMAIN : first;
      path = rest.slice(slash + 1);
    }
  }
  for (const component of path.split("/")) {
    if (!COMPONENT_RE.test(component)) {
      throw invalid(
        text,
        component === "" ? "empty path component" : `bad path component ${JSON.stringify(component)}`,
      );
    }
  }
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = `library/${path}`;
  if (tag === undefined && digest === undefined) tag = "latest";
  const suffix = `${tag === undefined ? "" : `:${tag}`}${digest === undefined ? "" : `@${digest}`}`;
  let familiarPath = `${domain}/${path}`;
  if (domain === DEFAULT_DOMAIN) {
    familiarPath = path.startsWith("library/") && path.split("/").length === 2 ? path.slice(8) : path;
  }
  return {
    domain,
    path,
    tag,
    digest,
    full: `${domain}/${path}${suffix}`,
    familiar: `${familiarPath}${suffix}`,
  };
}
