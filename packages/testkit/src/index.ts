export { makeTempDir, type TempDir } from "./temp-dir.js";
export { type ReadTreeOptions, readTree, type TreeEntryInfo, type TreeNode, type TreeSpec, writeTree } from "./tree.js";
