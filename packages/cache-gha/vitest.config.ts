import { defineProject, mergeConfig } from "vitest/config";
import { sharedResolve } from "../../vitest.shared.ts";

export default mergeConfig(
  sharedResolve,
  defineProject({ test: { name: "cache-gha", include: ["src/**/*.test.ts"] } }),
);
