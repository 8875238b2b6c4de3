export { cleanupStale, type StaleCleanup } from "./cleanup.js";
export { createRuncExecutor, type RuncExecutor, type RuncExecutorOptions } from "./executor.js";
export { DEFAULT_HOSTNAME, hostsFile } from "./hosts.js";
export {
  type ContainerView,
  mkdirInContainer,
  type ResolvedPath,
  readFileInContainer,
  resolveInContainer,
  type ViewMount,
} from "./safe-path.js";
export { buildSpec, DEFAULT_CAPABILITIES, type OciMount, type SpecInput, withDefaultPath } from "./spec.js";
export { type ExecUser, parseGroup, parsePasswd, resolveUser } from "./user.js";
