import { materializeRef } from "@kiln/cache";
import type { OpResolver, Ref } from "@kiln/core";

/**
 * Results found in an imported cache are lazy: their blobs are still remote. An op that really reads
 * an input (runs, or content-hashes it) gets it materialized first, like BuildKit's `unlazy`
 * preprocessing of every dependency; an input nobody reads is never downloaded.
 */
export function materializingResolver(inner: OpResolver<Ref>): OpResolver<Ref> {
  return (vertex) => {
    const op = inner(vertex);
    return {
      async cacheMap(o) {
        const cm = await op.cacheMap(o);
        return {
          ...cm,
          deps: cm.deps.map((dep) => {
            const compute = dep.computeDigest;
            if (!compute) return dep;
            return {
              ...dep,
              computeDigest: async (input, co) => compute(await materializeRef(input, co), co),
            };
          }),
        };
      },
      async exec(inputs, o) {
        return op.exec(await Promise.all(inputs.map((input) => materializeRef(input, o))), o);
      },
    };
  };
}
