import {
  type CacheKeyDescription,
  type CacheKeyLink,
  cacheKeyOf,
  contentCacheKey,
  type Digest,
  type Layer,
  sha256,
} from "@kiln/core";
import { describe, expect, it } from "vitest";
import { createCacheChains } from "./chains.js";
import { indexCacheConfig } from "./import.js";

const record = (name: string): Digest => sha256(`${sha256(name)}@0`);
const layer: Layer = {
  blob: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256("top layer"), size: 9 },
  diffId: sha256("top diff"),
};

/**
 * Twelve steps in a row, each also reading a stage by content (COPY --from): every record has an input
 * with two alternatives, so the keys a record could stand for double at each step (4096 at the top).
 */
function deepChain() {
  const cc = createCacheChains();
  const stage = cc.add(record("stage"));
  let previous = cc.add(record("base"));
  const descriptions = new Map<Digest, CacheKeyDescription>();
  const describe = (rec: Digest, deps: CacheKeyLink[]) => {
    const key = cacheKeyOf(rec, deps);
    descriptions.set(key, { record: rec, deps });
    return key;
  };
  let key = describe(record("base"), []);
  const stageKey = describe(record("stage"), []);
  for (let i = 0; i < 12; i++) {
    const content = sha256(`content ${i}`);
    const contentRoot = cc.add(sha256(`${content}@-1`));
    descriptions.set(contentCacheKey(content), { record: sha256(`${content}@-1`), deps: [] });
    previous = cc.add(
      record(`step ${i}`),
      [[{ src: previous }], [{ src: stage, selector: "sel" }, { src: contentRoot }]],
      i === 11 ? { layers: [layer], createdAt: new Date(0) } : undefined,
    );
    // The solver's definition key: every input's own key, with its selector.
    key = describe(record(`step ${i}`), [{ key }, { key: stageKey, selector: "sel" }]);
  }
  return { ...cc.marshal(), key, describeKey: (k: Digest) => descriptions.get(k) };
}

describe("indexCacheConfig: structural lookup", () => {
  it("finds a record through links however many keys it could stand for", () => {
    const { config, layers, key, describeKey } = deepChain();
    const imported = indexCacheConfig(config, layers);
    expect(imported.lookup(key, describeKey)?.layers).toEqual([layer]);
    // The capped enumeration alone (no description) misses it: why the solver describes its keys.
    expect(imported.lookup(key)).toBeUndefined();
  });

  it("a different selector or an unknown link does not match", () => {
    const { config, layers, key, describeKey } = deepChain();
    const imported = indexCacheConfig(config, layers);
    const d = describeKey(key) as CacheKeyDescription;
    const other = cacheKeyOf(d.record, [
      d.deps[0] as CacheKeyLink,
      { ...(d.deps[1] as CacheKeyLink), selector: "x" },
    ]);
    const describeOther = (k: Digest) =>
      k === other ? { ...d, deps: [d.deps[0], { ...d.deps[1], selector: "x" }] } : describeKey(k);
    expect(imported.lookup(other, describeOther as never)).toBeUndefined();
    expect(imported.lookup(sha256("unknown"), describeKey)).toBeUndefined();
  });
});
