export {
  type GhaCacheServer,
  type GhaCacheServerOptions,
  type GhaCacheServerStats,
  startGhaCacheServer,
} from "./server.js";
export { type GhaCacheScope, READ as GHA_SCOPE_READ, WRITE as GHA_SCOPE_WRITE } from "./token.js";
