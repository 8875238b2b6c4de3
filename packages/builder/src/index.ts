export {
  type Builder,
  type BuilderOptions,
  type BuildRequest,
  createBuilder,
  type OutputSpec,
} from "./builder.js";
export { createOpResolver } from "./ops/resolver.js";
export type { OpEnvironment } from "./ops/types.js";
export { defaultRoot, type LocalStore, openLocalStore, type SnapshotterChoice } from "./store.js";
