import { stat } from "node:fs/promises";
import { join, resolve as resolvePath } from "node:path";
import {
  type CallOptions,
  type Descriptor,
  type Digest,
  digestHex,
  formatPlatform,
  hostPlatform,
  type ImageConfig,
  isDigest,
  isIndexMediaType,
  isManifestMediaType,
  KilnError,
  type Platform,
  throwIfAborted,
} from "@kiln/core";
import { errno } from "./content-store.js";
import {
  checkConfigObject,
  checkDescriptor,
  checkIndex,
  checkManifest,
  looksLikeIndex,
  parseLayoutJson,
  readLayoutFile,
  verifyBlob,
} from "./layout-files.js";
import { matchEntries } from "./layout-names.js";
import { pickPlatform } from "./platform-match.js";
import { type ImageIndex, type ImageManifest, OCI_LAYOUT_VERSION, type OciLayoutFile } from "./types.js";

export interface ResolveOptions extends CallOptions {
  /** Platform to pick from an index; the host platform when omitted. */
  readonly platform?: Platform;
}

export interface ResolvedLayoutImage {
  readonly manifestDigest: Digest;
  readonly manifestDescriptor: Descriptor;
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
  readonly configDescriptor: Descriptor;
}

export interface OciLayout {
  readonly dir: string;
  readonly index: ImageIndex;
  /**
   * Finds an image by tag (`latest`), full name (`docker.io/library/hello:latest`) or digest
   * (`sha256:…`), following indexes to the manifest for the wanted platform. Without a ref, the only
   * entry of index.json (or the one tagged `latest`).
   */
  resolve(refOrDigest?: string, o?: ResolveOptions): Promise<ResolvedLayoutImage>;
  /** A blob's bytes, verified against its digest (DATA_LOSS on mismatch). */
  readBlob(digest: Digest, o?: CallOptions & { size?: number }): Promise<Buffer>;
  blobPath(digest: Digest): string;
}

const MAX_INDEX_DEPTH = 8;
const ATTESTATION_TYPE = "vnd.docker.reference.type";

/** Opens and validates an OCI image layout directory (oci-layout and index.json). */
export async function openOciLayout(dir: string, o?: CallOptions): Promise<OciLayout> {
  const root = resolvePath(dir);
  await checkIsDirectory(root);
  const layoutPath = join(root, "oci-layout");
  const layout = parseLayoutJson(
    await readLayoutFile(layoutPath, "oci-layout file", o),
    layoutPath,
    "oci-layout file",
  );
  const version = (layout as Partial<OciLayoutFile> | null)?.imageLayoutVersion;
  if (version !== OCI_LAYOUT_VERSION) {
    throw new KilnError(
      "INVALID_ARGUMENT",
      `unsupported imageLayoutVersion ${JSON.stringify(version)} in ${layoutPath}`,
      {
        hint: `kiln reads OCI layouts with imageLayoutVersion ${OCI_LAYOUT_VERSION}`,
      },
    );
  }
  const indexPath = join(root, "index.json");
  const index = checkIndex(
    parseLayoutJson(await readLayoutFile(indexPath, "index.json", o), indexPath, "index.json"),
    indexPath,
    "index.json",
  );

  const blobPath = (digest: Digest): string => join(root, "blobs", "sha256", digestHex(digest));

  const readBlob = async (digest: Digest, ro?: CallOptions & { size?: number }): Promise<Buffer> => {
    throwIfAborted(ro?.signal);
    const path = blobPath(digest);
    const bytes = await readLayoutFile(path, `blob ${digest}`, ro);
    verifyBlob(bytes, digest, path, ro?.size);
    return bytes;
  };

  const readJson = async (desc: Descriptor, ro?: CallOptions): Promise<unknown> =>
    parseLayoutJson(
      await readBlob(desc.digest, { ...ro, size: desc.size }),
      blobPath(desc.digest),
      `blob ${desc.digest}`,
    );

  const isIndex = (desc: Descriptor, body: unknown): boolean =>
    isIndexMediaType(desc.mediaType) || (!isManifestMediaType(desc.mediaType) && looksLikeIndex(body));

  const findDescriptors = async (ref: string | undefined, ro?: CallOptions): Promise<Descriptor[]> => {
    if (ref !== undefined && isDigest(ref)) {
      const listed = index.manifests.filter((m) => m.digest === ref);
      if (listed.length > 0) return listed.slice(0, 1);
      // Not listed in index.json but present (a child of a nested index): describe it from its body.
      const bytes = await readBlob(ref, ro);
      const body = parseLayoutJson(bytes, blobPath(ref), `blob ${ref}`);
      const mediaType = looksLikeIndex(body)
        ? "application/vnd.oci.image.index.v1+json"
        : "application/vnd.oci.image.manifest.v1+json";
      return [
        {
          mediaType: (body as { mediaType?: string }).mediaType ?? mediaType,
          digest: ref,
          size: bytes.length,
        },
      ];
    }
    const entries = index.manifests.filter((m) => m.annotations?.[ATTESTATION_TYPE] === undefined);
    if (ref === undefined) {
      if (entries.length === 1) return entries;
      const latest = matchEntries(entries, "latest");
      if (latest.length > 0) return latest;
      throw new KilnError(
        "INVALID_ARGUMENT",
        `${join(root, "index.json")} lists ${entries.length} images; name one`,
        {
          hint: `pick a tag or digest: ${describeEntries(entries)}`,
        },
      );
    }
    const found = matchEntries(entries, ref);
    if (found.length === 0) {
      throw new KilnError(
        "NOT_FOUND",
        `no image tagged ${JSON.stringify(ref)} in ${join(root, "index.json")}`,
        {
          hint:
            entries.length > 0
              ? `available: ${describeEntries(entries)}`
              : "the layout's index.json lists no images",
        },
      );
    }
    return found;
  };

  const select = async (
    candidates: Descriptor[],
    platform: Platform,
    depth: number,
    ro?: CallOptions,
  ): Promise<Descriptor> => {
    if (depth > MAX_INDEX_DEPTH) {
      throw new KilnError("INVALID_ARGUMENT", `indexes nested deeper than ${MAX_INDEX_DEPTH} in ${root}`);
    }
    const unique = candidates.filter((d, i) => candidates.findIndex((c) => c.digest === d.digest) === i);
    if (unique.length > 1 && !unique.some((d) => d.platform)) {
      throw new KilnError(
        "INVALID_ARGUMENT",
        `the reference matches ${unique.length} different images in ${root}`,
        {
          hint: `use a full name or a digest: ${describeEntries(unique)}`,
        },
      );
    }
    let chosen: Descriptor | undefined =
      unique.length === 1 ? unique[0] : pickPlatform(platform, unique, (d) => d.platform);
    if (!chosen) {
      throw new KilnError("NOT_FOUND", `no manifest for platform ${formatPlatform(platform)} in ${root}`, {
        hint: `available platforms: ${candidates.map((d) => (d.platform ? formatPlatform(d.platform) : "unknown")).join(", ")}`,
      });
    }
    const body = await readJson(chosen, ro);
    if (!isIndex(chosen, body)) return chosen;
    const nested = checkIndex(body, blobPath(chosen.digest), "image index");
    const children = nested.manifests.filter((m) => m.annotations?.[ATTESTATION_TYPE] === undefined);
    if (children.length === 0) {
      throw new KilnError("NOT_FOUND", `image index ${chosen.digest} in ${root} lists no manifests`);
    }
    chosen =
      children.length === 1 && !children[0]?.platform
        ? children[0]
        : pickPlatform(platform, children, (d) => d.platform);
    return select(chosen ? [chosen] : children.filter((d) => d.platform), platform, depth + 1, ro);
  };

  return {
    dir: root,
    index,
    blobPath,
    readBlob,
    async resolve(ref, ro) {
      throwIfAborted(ro?.signal);
      const platform = ro?.platform ?? hostPlatform();
      const manifestDescriptor = await select(await findDescriptors(ref, ro), platform, 0, ro);
      const manifestPath = blobPath(manifestDescriptor.digest);
      const manifest = checkManifest(await readJson(manifestDescriptor, ro), manifestPath, "image manifest");
      const configDescriptor = checkDescriptor(manifest.config, manifestPath, "image manifest");
      const config = await readJson(configDescriptor, ro);
      checkConfigObject(config, blobPath(configDescriptor.digest));
      return {
        manifestDigest: manifestDescriptor.digest,
        manifestDescriptor,
        manifest,
        config: config as ImageConfig,
        configDescriptor,
      };
    },
  };
}

async function checkIsDirectory(dir: string): Promise<void> {
  try {
    if ((await stat(dir)).isDirectory()) return;
  } catch (err) {
    if (errno(err) === "ENOENT") {
      throw new KilnError("NOT_FOUND", `OCI layout directory not found: ${dir}`, {
        cause: err,
        hint: "check the path; oci-layout:// contexts need an absolute path to an OCI layout directory",
      });
    }
    throw err;
  }
  throw new KilnError("INVALID_ARGUMENT", `not a directory: ${dir}`, {
    hint: "an OCI layout is a directory; extract an OCI tar archive first (tar -xf image.tar -C dir)",
  });
}

function describeEntries(entries: readonly Descriptor[]): string {
  return entries
    .map(
      (m) =>
        m.annotations?.["io.containerd.image.name"] ??
        m.annotations?.["org.opencontainers.image.ref.name"] ??
        m.digest,
    )
    .join(", ");
}
