import { defineProject } from "vitest/config";

// vitest.shared.ts's conditions without "module": the AWS SDK's "module" builds (dist-es) use
// extensionless imports that only bundlers resolve, so Node must get its "node" (CommonJS) builds.
const conditions = ["@kiln/source", "node", "development|production"];

export default defineProject({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@kiln/source"] } },
  test: { name: "cache-s3", include: ["src/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000 },
});
