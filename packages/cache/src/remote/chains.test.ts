import { type Digest, type Layer, sha256 } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { parseCacheConfig, serializeCacheConfig } from "./cache-config.js";
import { createCacheChains, sortConfig } from "./chains.js";
import { indexCacheConfig } from "./import.js";

const dgst = (s: string): Digest => sha256(s);
/** BuildKit's outputKey / rootKey: sha256("<digest>@<output>"). */
const outputKey = (d: Digest, i: number): Digest => sha256(`${d}@${i}`);
const layer = (name: string): Layer => ({
  blob: { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: dgst(name), size: name.length },
  diffId: dgst(`diff-${name}`),
});

describe("cache chains: BuildKit's TestSimpleMarshal", () => {
  const createdAt = new Date("2026-01-02T03:04:05.000Z");
  const addRecords = (cc: ReturnType<typeof createCacheChains>) => {
    const foo = cc.add(outputKey(dgst("foo"), 0));
    const bar = cc.add(outputKey(dgst("bar"), 1));
    cc.add(outputKey(dgst("baz"), 0), [[{ src: foo, selector: "" }], [{ src: bar, selector: "sel0" }]], {
      layers: [layer("d0"), layer("d1")],
      createdAt,
    });
  };

  it("marshals two layers and three records, sorted as BuildKit sorts them", () => {
    const cc = createCacheChains();
    addRecords(cc);
    const { config } = cc.marshal();
    expect(config.layers).toEqual([
      { blob: dgst("d0"), parent: -1 },
      { blob: dgst("d1"), parent: 0 },
    ]);
    expect(config.records.map((r) => r.digest)).toEqual([
      outputKey(dgst("baz"), 0),
      outputKey(dgst("foo"), 0),
      outputKey(dgst("bar"), 1),
    ]);
    const [baz, foo, bar] = config.records;
    expect(baz?.inputs).toEqual([[{ link: 1 }], [{ selector: "sel0", link: 2 }]]);
    expect(baz?.results).toEqual([{ layer: 1, createdAt: createdAt.toISOString() }]);
    expect([foo?.inputs, foo?.results, bar?.inputs, bar?.results]).toEqual([[], [], [], []]);
  });

  it("adding the same information again changes nothing; a parse round trip is identical", () => {
    const cc = createCacheChains();
    addRecords(cc);
    const first = cc.marshal();
    addRecords(cc);
    const second = cc.marshal();
    expect(second.config).toEqual(first.config);

    const json = serializeCacheConfig(first.config);
    const reparsed = createCacheChains();
    reparsed.addConfig(parseCacheConfig(json), first.layers);
    expect(reparsed.marshal().config).toEqual(first.config);
    expect(serializeCacheConfig(reparsed.marshal().config)).toBe(json);

    cc.add(outputKey(dgst("bay"), 0));
    const third = cc.marshal().config;
    expect([third.layers.length, third.records.length]).toEqual([2, 4]);
  });

  it("writes BuildKit's JSON: parent 0 and empty selectors omitted, Go field order", () => {
    const cc = createCacheChains();
    addRecords(cc);
    const json = JSON.parse(serializeCacheConfig(cc.marshal().config));
    expect(json.layers).toEqual([{ blob: dgst("d0"), parent: -1 }, { blob: dgst("d1") }]);
    expect(Object.keys(json.records[0])).toEqual(["layers", "digest", "inputs"]);
    expect(json.records[0].inputs).toEqual([[{ link: 1 }], [{ selector: "sel0", link: 2 }]]);
    expect(json.records[1]).toEqual({ digest: outputKey(dgst("foo"), 0) });
    // A missing parent reads back as 0, as Go's zero value does.
    expect(parseCacheConfig(JSON.stringify(json)).layers[1]?.parent).toBe(0);
  });
});

describe("sortConfig", () => {
  it("orders layers by blob, records by digest then links, and rewrites every index", () => {
    const [a, b] = [dgst("a"), dgst("b")].sort();
    const [r1, r2, r3] = [dgst("r1"), dgst("r2"), dgst("r3")].sort() as [Digest, Digest, Digest];
    const sorted = sortConfig({
      layers: [
        { blob: b as Digest, parent: 1 },
        { blob: a as Digest, parent: -1 },
      ],
      records: [
        { digest: r3, inputs: [[{ link: 2 }, { link: 1 }]], results: [{ layer: 0 }], chains: [] },
        { digest: r2, inputs: [], results: [], chains: [] },
        { digest: r1, inputs: [], results: [], chains: [] },
      ],
    });
    expect(sorted.layers).toEqual([
      { blob: a, parent: -1 },
      { blob: b, parent: 0 },
    ]);
    expect(sorted.records.map((r) => r.digest)).toEqual([r1, r2, r3]);
    expect(sorted.records[2]?.inputs).toEqual([[{ link: 0 }, { link: 1 }]]);
    expect(sorted.records[2]?.results).toEqual([{ layer: 1 }]);
  });

  it("is independent of insertion order", () => {
    const build = (reverse: boolean) => {
      const cc = createCacheChains();
      const names = ["x", "y", "z"];
      const roots = (reverse ? [...names].reverse() : names).map((n) => cc.add(outputKey(dgst(n), 0)));
      cc.add(outputKey(dgst("top"), 0), [roots.map((src) => ({ src }))], {
        layers: [layer("l1")],
        createdAt: new Date(0),
      });
      return serializeCacheConfig(cc.marshal().config);
    };
    expect(build(true)).toBe(build(false));
  });
});

describe("merge", () => {
  it("keeps both sides' records and shares common ancestors; the newer result wins", () => {
    const base = (cc: ReturnType<typeof createCacheChains>) => cc.add(outputKey(dgst("base"), 0));
    const one = createCacheChains();
    one.add(outputKey(dgst("app1"), 0), [[{ src: base(one) }]], {
      layers: [layer("a1")],
      createdAt: new Date(1000),
    });
    one.add(outputKey(dgst("shared"), 0), [[{ src: base(one) }]], {
      layers: [layer("s-old")],
      createdAt: new Date(1000),
    });
    const two = createCacheChains();
    two.add(outputKey(dgst("app2"), 0), [[{ src: base(two) }]], {
      layers: [layer("a2")],
      createdAt: new Date(2000),
    });
    two.add(outputKey(dgst("shared"), 0), [[{ src: base(two) }]], {
      layers: [layer("s-new")],
      createdAt: new Date(2000),
    });

    const merged = createCacheChains();
    for (const side of [one, two]) {
      const { config, layers } = side.marshal();
      merged.addConfig(parseCacheConfig(serializeCacheConfig(config)), layers);
    }
    const { config } = merged.marshal();
    const digests = config.records.map((r) => r.digest);
    expect(digests).toHaveLength(4);
    for (const name of ["base", "app1", "app2", "shared"])
      expect(digests).toContain(outputKey(dgst(name), 0));
    const shared = config.records.find((r) => r.digest === outputKey(dgst("shared"), 0));
    expect(config.layers[shared?.results[0]?.layer as number]?.blob).toBe(dgst("s-new"));
  });

  it("drops a result whose blob has no descriptor, and rejects out-of-range indexes", () => {
    const cc = createCacheChains();
    cc.add(outputKey(dgst("x"), 0), [], { layers: [layer("l")], createdAt: new Date(0) });
    const { config } = cc.marshal();
    const again = createCacheChains();
    again.addConfig(config, new Map());
    expect(again.marshal().config.records[0]?.results).toEqual([]);
    expect(() =>
      parseCacheConfig('{"records":[{"digest":"' + dgst("x") + '","inputs":[[{"link":5}]]}]}'),
    ).toThrow(/out of range/);
    expect(() => parseCacheConfig('{"layers":[{"blob":"nope"}]}')).toThrow(/blob digest/);
  });
});

describe("scale", () => {
  it("marshals and merges thousands of records in linear time (BuildKit's normalize grew badly)", () => {
    const build = (seed: string) => {
      const cc = createCacheChains();
      let previous = cc.add(outputKey(dgst("base"), 0));
      for (let i = 0; i < 3000; i++) {
        const side = cc.add(outputKey(dgst(`${seed} side ${i}`), 0));
        previous = cc.add(
          outputKey(dgst(`step ${i % 2000}`), 0),
          [[{ src: previous }], [{ src: side, selector: "s" }]],
          {
            layers: [layer(`${seed} ${i}`)],
            createdAt: new Date(i),
          },
        );
      }
      return cc.marshal();
    };
    const started = performance.now();
    const [a, b] = [build("a"), build("b")];
    const merged = createCacheChains();
    merged.addConfig(parseCacheConfig(serializeCacheConfig(a.config)), a.layers);
    merged.addConfig(parseCacheConfig(serializeCacheConfig(b.config)), b.layers);
    const { config } = merged.marshal();
    const imported = indexCacheConfig(config, merged.marshal().layers);
    expect(imported.keyCount).toBeGreaterThan(0);
    const elapsed = performance.now() - started;
    expect(config.records.length).toBe(a.config.records.length + b.config.records.length - 1);
    expect(elapsed).toBeLessThan(10_000);
  });
});
