#!/usr/bin/env bash
# Creates the skeleton of a workspace package: package.json, tsconfig, vitest config, src/index.ts.
# usage: scripts/new-package.sh NAME "description" [dep ...]
set -euo pipefail
name=$1; desc=$2; shift 2
dir=packages/$name
mkdir -p "$dir/src"
deps=""; refs=""
for d in "$@"; do
  deps="$deps    \"@kiln/$d\": \"workspace:^\",\n"
  refs="$refs    { \"path\": \"../$d\" },\n"
done
deps=${deps%,\\n}
refs=${refs%,\\n}
printf '{\n  "name": "@kiln/%s",\n  "version": "0.1.0",\n  "description": "%s",\n  "license": "Apache-2.0",\n  "type": "module",\n  "sideEffects": false,\n  "engines": { "node": ">=20.18.1" },\n  "exports": {\n    ".": {\n      "@kiln/source": "./src/index.ts",\n      "types": "./dist/index.d.ts",\n      "default": "./dist/index.js"\n    }\n  },\n  "files": ["dist", "src", "!src/**/*.test.ts"],\n  "scripts": { "build": "tsc -b" },\n  "dependencies": {\n%b\n  }\n}\n' "$name" "$desc" "$deps" > "$dir/package.json"
printf '{\n  "extends": "../../tsconfig.base.json",\n  "compilerOptions": { "rootDir": "src", "outDir": "dist" },\n  "include": ["src"],\n  "exclude": ["src/**/*.test.ts", "src/**/*.test-helpers.ts"],\n  "references": [\n%b\n  ]\n}\n' "$refs" > "$dir/tsconfig.json"
cat > "$dir/vitest.config.ts" <<VEOF
import { defineProject, mergeConfig } from "vitest/config";
import { sharedResolve } from "../../vitest.shared.ts";

export default mergeConfig(sharedResolve, defineProject({ test: { name: "$name", include: ["src/**/*.test.ts"] } }));
VEOF
[ -f "$dir/src/index.ts" ] || echo "export {};" > "$dir/src/index.ts"
