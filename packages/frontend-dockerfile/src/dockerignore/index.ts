export { cleanPath } from "./clean-path.js";
export { parseIgnoreFile } from "./ignore-file.js";
export { createIgnoreMatcher, type IgnoreMatcher } from "./matcher.js";
export type { IgnorePattern, PatternKind } from "./pattern.js";
