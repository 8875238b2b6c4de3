import { type GhaCacheServer, type GhaCacheServerOptions, startGhaCacheServer } from "@kiln/testkit";
import type { GhaCacheOptions } from "./options.js";

/** Small sizes so that a few MiB exercise block uploads, v1 chunking and the temp-file spool. */
export const SMALL_TUNING = {
  chunkSize: 512 * 1024,
  singleShotMax: 1024 * 1024,
  memorySpoolMax: 1024 * 1024,
  retryBaseMs: 50,
  pointerLockTimeoutMs: 600,
  pointerPollMs: 100,
} as const;

export function storeOptions(
  server: GhaCacheServer,
  apiVersion: 1 | 2,
  extra: Partial<GhaCacheOptions> = {},
): GhaCacheOptions {
  return {
    scope: "buildkit",
    token: server.token,
    url: server.url,
    apiVersion,
    timeoutMs: 30_000,
    rateLimit: undefined,
    sizeBudget: undefined,
    tuning: SMALL_TUNING,
    ...extra,
  };
}

export async function withServer<T>(
  options: GhaCacheServerOptions,
  body: (server: GhaCacheServer) => Promise<T>,
): Promise<T> {
  const server = await startGhaCacheServer(options);
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}
