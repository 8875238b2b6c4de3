import type { FrontendRequest, SourceLocation } from "@kiln/core";
import { parseStages } from "../instructions/index.js";
import { parse } from "../parser/index.js";
import { applyDirectives } from "./directives.js";

/**
 * buildx's `--call` subrequests that need no build: `targets` lists the stages (with their doc
 * comments, like BuildKit's frontend.targets), `check` reports the build-check warnings only.
 */
export interface TargetInfo {
  readonly name: string;
  readonly description: string | undefined;
  readonly base: string;
  readonly isDefault: boolean;
  readonly location: SourceLocation;
}

export function listTargets(file: { name: string; data: Uint8Array }): TargetInfo[] {
  const stages = parseStages(parse(file.data, file.name), { file: file.name }).stages;
  return stages.map((stage, i) => ({
    name: stage.name ?? `stage-${i}`,
    description: stage.docComment,
    base: stage.baseName,
    isDefault: i === stages.length - 1,
    location: stage.location,
  }));
}

export interface CheckWarning {
  readonly message: string;
  readonly location: SourceLocation | undefined;
}

/** The build-check warnings of a Dockerfile, honouring `# check=skip=…`; throws when `error=true`. */
export function checkDockerfile(req: Omit<FrontendRequest, "bridge" | "platform">): CheckWarning[] {
  const warnings: CheckWarning[] = [];
  const parsed = parse(req.file.data, req.file.name);
  applyDirectives(parsed, {
    ...req,
    platform: { os: "linux", architecture: "amd64" },
    bridge: {
      resolveImage: async () => {
        throw new Error("not used");
      },
      warn: (message, location) => void warnings.push({ message, location }),
    },
  });
  parseStages(parsed, { file: req.file.name });
  return warnings;
}
