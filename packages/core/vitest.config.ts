import { defineProject, mergeConfig } from "vitest/config";
import { sharedResolve } from "../../vitest.shared.ts";

export default mergeConfig(
  sharedResolve,
  defineProject({ test: { name: "core", include: ["src/**/*.test.ts"] } }),
);
