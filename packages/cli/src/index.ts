export { parseBuildContexts, parseCsvAttrs, parseKeyValues, parseOutput } from "./parse-flags.js";
export { createPlainRenderer, createRenderer, type ProgressMode } from "./progress/renderers.js";
