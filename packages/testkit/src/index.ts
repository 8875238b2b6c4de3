export { snapshotterSuite } from "./snapshotter-suite.js";
export type { CaseContext, SnapshotterFactory, SnapshotterSuiteOptions } from "./snapshotter-harness.js";
export { makeTempDir, type TempDir } from "./temp-dir.js";
export { type ReadTreeOptions, readTree, type TreeEntryInfo, type TreeNode, type TreeSpec, writeTree } from "./tree.js";
