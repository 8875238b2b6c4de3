export { type BlobStoreFactory, type BlobStoreSuiteOptions, blobStoreSuite } from "./blob-store-suite.js";
export {
  BUSYBOX_APPLETS,
  type BusyboxLayout,
  type BusyboxLayoutOptions,
  buildBusyboxLayout,
} from "./busybox-layout.js";
export {
  GHA_SCOPE_READ,
  GHA_SCOPE_WRITE,
  type GhaCacheScope,
  type GhaCacheServer,
  type GhaCacheServerOptions,
  type GhaCacheServerStats,
  startGhaCacheServer,
} from "./gha-cache-server/index.js";
export {
  createGitFixture,
  type GitDaemon,
  type GitFixture,
  type GitHttpServer,
  type HttpFileServer,
  type ServedFile,
  startGitDaemon,
  startGitHttpServer,
  startHttpFileServer,
} from "./remote-servers.js";
export type { CaseContext, SnapshotterFactory, SnapshotterSuiteOptions } from "./snapshotter-harness.js";
export { snapshotterSuite } from "./snapshotter-suite.js";
export { makeTempDir, type TempDir } from "./temp-dir.js";
export {
  type ReadTreeOptions,
  readTree,
  type TreeEntryInfo,
  type TreeNode,
  type TreeSpec,
  writeTree,
} from "./tree.js";
