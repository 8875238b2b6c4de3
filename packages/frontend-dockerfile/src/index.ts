export { convertDockerfile, createDockerfileFrontend, FRONTEND_NAME } from "./convert/frontend.js";
export { type CheckWarning, checkDockerfile, listTargets, type TargetInfo } from "./convert/subrequests.js";
export * from "./dockerignore/index.js";
export * from "./instructions/index.js";
export * from "./parser/index.js";
export * from "./shell/index.js";
