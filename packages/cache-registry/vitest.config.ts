import { defineProject, mergeConfig } from "vitest/config";
import { sharedResolve } from "../../vitest.shared.ts";

export default mergeConfig(
  sharedResolve,
  defineProject({
    test: { name: "cache-registry", include: ["src/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000 },
  }),
);
