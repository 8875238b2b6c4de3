import { defineProject } from "vitest/config";

// vitest.shared.ts's conditions without "module", as Node itself resolves when the CLI runs: the AWS
// SDK's "module" builds (dist-es, reached through @kiln/cache-s3) use extensionless imports that only
// bundlers resolve.
const conditions = ["@kiln/source", "node", "development|production"];

export default defineProject({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@kiln/source"] } },
  test: { name: "cli", include: ["src/**/*.test.ts"] },
});
