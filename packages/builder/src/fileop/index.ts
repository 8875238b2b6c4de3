export { type ApplyFileActionsOptions, applyFileActions } from "./apply.js";
export { type ModeSet, parseModeString } from "./chmod.js";
export { pathMatch } from "./match.js";
export { type Owner, resolveOwner, type TreeLookup } from "./owner.js";
export { createPatternMatcher, type MatchInfo, type PatternMatcher } from "./patterns.js";
export { type ResolvedPath, type ResolveOptions, resolvePath } from "./resolve.js";
export type {
  ChownOpt,
  FileAction,
  FileActionCopy,
  FileActionKind,
  FileActionMkDir,
  FileActionMkFile,
  FileActionRm,
  FileActionSymlink,
  Int64,
  NamedUserOpt,
  SourceTree,
  UserOpt,
} from "./types.js";
