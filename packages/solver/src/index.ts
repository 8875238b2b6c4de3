export { type CacheKeyDep, cacheKey, canonicalJson } from "./keys.js";
export {
  createSolver,
  type SolveOptions,
  type SolveResult,
  type Solver,
  type SolverOptions,
} from "./solver.js";
export { opName, type VertexGraphOptions, vertexGraph, vertexGraphFromLoaded } from "./vertex-graph.js";
