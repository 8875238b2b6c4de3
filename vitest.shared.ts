// Resolve workspace packages to their TypeScript sources so tests run without a build.
const conditions = ["@kiln/source", "module", "node", "development|production"];
export const sharedResolve = {
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@kiln/source"] } },
};
