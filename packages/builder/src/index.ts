export type { CacheModules, CacheSpec } from "@kiln/cache";
export {
  type Builder,
  type BuilderOptions,
  type BuildRequest,
  createBuilder,
  type OutputSpec,
  type SecretSource,
} from "./builder.js";
export { createOpResolver } from "./ops/resolver.js";
export type { OpEnvironment } from "./ops/types.js";
export { ENTITLEMENTS, type Entitlement } from "./preflight.js";
export { isRemoteContext } from "./remote-context.js";
export type { SshSource } from "./ssh/agents.js";
export { defaultRoot, type LocalStore, openLocalStore, type SnapshotterChoice } from "./store.js";
