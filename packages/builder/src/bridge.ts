import { resolve as resolvePath } from "node:path";
import {
  type FrontendBridge,
  KilnError,
  type Platform,
  type ProgressWriter,
  type ResolvedImage,
  sha256,
} from "@kiln/core";
import { openOciLayout, parseOciLayoutRef } from "@kiln/oci";
import type { ImageResolver } from "./image-resolver.js";

/**
 * The frontend's window on the outside world for one build: resolves image references (today: OCI
 * layouts given as named contexts) and records which layout directories the build's sources use.
 */
export interface BuildBridge extends FrontendBridge {
  readonly ociStores: Map<string, string>;
}

export function createBridge(progress: ProgressWriter, images?: ImageResolver): BuildBridge {
  const ociStores = new Map<string, string>();
  return {
    ociStores,
    async resolveImage(ref: string, platform: Platform, o): Promise<ResolvedImage> {
      if (ref.startsWith("oci-layout://")) {
        const parsed = parseOciLayoutRef(ref);
        const dir = resolvePath(parsed.path);
        const layout = await openOciLayout(dir, o);
        const image = await layout.resolve(parsed.digest ?? parsed.tag ?? "latest", { ...o, platform });
        // The store id names the layout in the LLB identifier; it is stable for a path.
        const storeId = sha256(dir).slice(7, 23);
        ociStores.set(storeId, dir);
        return {
          identifier: `oci-layout://${storeId}/image@${image.manifestDigest}`,
          attrs: { "oci.store": storeId },
          manifestDigest: image.manifestDigest,
          config: image.config,
        };
      }
      const name = ref.replace(/^docker-image:\/\//, "");
      if (!images) {
        throw new KilnError("NOT_FOUND", `cannot resolve image ${name}: no registry client is configured`, {
          hint: `give it as a named context: --build-context ${name.replace(/[:@].*$/, "")}=oci-layout:///path/to/layout:tag`,
        });
      }
      const image = await images.resolve(name, platform, o);
      return {
        identifier: `docker-image://${image.name.replace(/@sha256:[a-f0-9]{64}$/, "")}@${image.manifestDigest}`,
        attrs: {},
        manifestDigest: image.manifestDigest,
        config: image.config,
      };
    },
    warn(message, location) {
      progress.write({ type: "warning", message, ...(location ? { location } : {}), time: Date.now() });
    },
  };
}
