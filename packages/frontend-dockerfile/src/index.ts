export { type BaseImage, type ImageConfigLookup, lookupBaseImages } from "./convert/base-images.js";
export { convertDockerfile, createDockerfileFrontend, FRONTEND_NAME } from "./convert/frontend.js";
export { remoteHttpDownload, remoteMainContext } from "./convert/named-context.js";
export {
  type Outline,
  type OutlineArg,
  type OutlineSecret,
  outlineDockerfile,
} from "./convert/outline.js";
export { type CheckWarning, checkDockerfile, listTargets, type TargetInfo } from "./convert/subrequests.js";
export * from "./dockerignore/index.js";
export * from "./instructions/index.js";
export {
  type BaseImageInfo,
  type LintConfig,
  type LintResult,
  type LintRule,
  type LintWarning,
  lintDockerfile,
  parseCheckOptions,
  RULES,
  type RuleName,
} from "./lint/index.js";
export * from "./parser/index.js";
export * from "./shell/index.js";
