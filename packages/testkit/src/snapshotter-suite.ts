import { describe, it } from "vitest";
import * as cases from "./snapshotter-cases.js";
import {
  type CaseContext,
  runCase,
  type SnapshotterFactory,
  type SnapshotterSuiteOptions,
} from "./snapshotter-harness.js";

/**
 * Registers the snapshotter conformance cases with vitest. Every implementation's test file calls it
 * once; each case runs against a fresh temp root created by the suite and removed afterwards:
 *
 *   snapshotterSuite((root) => createNativeSnapshotter({ root }), { name: "native" });
 *
 * Trees are read and written through `mountedPath(await sn.mounts(key))`, so the suite works for any
 * snapshotter whose mounts that function understands.
 */
export function snapshotterSuite(factory: SnapshotterFactory, options: SnapshotterSuiteOptions = {}): void {
  const timeout = options.timeout ?? 60_000;
  const canChown = options.canChown ?? process.getuid?.() === 0;
  const run = (body: (ctx: CaseContext) => Promise<void>) => () => runCase(factory, options, body);

  describe(options.name ?? "Snapshotter conformance", () => {
    it("basic prepare, commit and view", run(cases.basic), timeout);
    it("contract errors (ALREADY_EXISTS, NOT_FOUND, ...)", run(cases.contractErrors), timeout);
    it("stat of an active snapshot", run(cases.statActive), timeout);
    it("remove, refusing parents with children", run(cases.remove), timeout);
    it("walk", run(cases.walk), timeout);
    it("layer file update is not visible in the parent", run(cases.layerFileUpdate), timeout);
    it("remove a directory of a lower layer", run(cases.removeDirInLowerLayer), timeout);
    it.skipIf(!canChown)("chown is preserved", run(cases.chownPreserved), timeout);
    it("view is read-only by contract", run(cases.viewReadOnly), timeout);
    it("close twice", run(cases.closeTwice), timeout);
    it("usage counts this snapshot's tree", run(cases.usage), timeout);
    it("a chain of 128 layers", run(cases.chain128), timeout * 4);
    it.skipIf(!options.plantCrashLeftovers)(
      "crash leftovers are cleaned on reopen",
      run(cases.crashLeftovers),
      timeout,
    );
    it("two instances on one root", run(cases.concurrentInstances), timeout);
  });
}

export type { CaseContext, SnapshotterFactory, SnapshotterSuiteOptions };
