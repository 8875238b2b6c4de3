import type { Writable } from "node:stream";
import { type ContentStore, type Exporter, KilnError } from "@kiln/core";
import { createDockerExporter, createOciExporter } from "./image-exporter.js";
import type { ImageWriter } from "./image-writer.js";
import { createLocalExporter } from "./local-exporter.js";
import { createImageExporter, type ImagePusher } from "./push-exporter.js";
import { createTarExporter } from "./tar-exporter.js";

export interface ExporterDeps {
  readonly content: ContentStore;
  /** For `type=image,push=true` / `type=registry`. */
  readonly registry?: ImagePusher;
  readonly stdout?: Writable;
  readonly imageWriter?: ImageWriter;
}

const FACTORIES: Readonly<Record<string, (deps: ExporterDeps) => Exporter>> = {
  docker: (deps) => createDockerExporter(deps),
  image: (deps) => createImageExporter(deps),
  registry: (deps) => createImageExporter(deps, { pushByDefault: true }),
  local: () => createLocalExporter(),
  oci: (deps) => createOciExporter(deps),
  tar: (deps) => createTarExporter(deps.stdout ? { stdout: deps.stdout } : {}),
};

export const EXPORTER_TYPES: readonly string[] = Object.keys(FACTORIES);

/** The exporter for `--output type=<type>`; INVALID_ARGUMENT naming the known types otherwise. */
export function exporterFor(type: string, deps: ExporterDeps): Exporter {
  const factory = Object.hasOwn(FACTORIES, type) ? FACTORIES[type] : undefined;
  if (!factory) {
    throw new KilnError("INVALID_ARGUMENT", `unknown exporter type ${JSON.stringify(type)}`, {
      hint: `known types: ${EXPORTER_TYPES.join(", ")} (e.g. --output type=oci,dest=image.tar)`,
    });
  }
  return factory(deps);
}
