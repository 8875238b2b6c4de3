export { type Authenticator, createAuthenticator, repositoryScope } from "./auth.js";
export { type AuthChallenge, parseChallenges } from "./challenge.js";
export {
  createRegistryClient,
  type ImageRefInput,
  type RegistryCallOptions,
  type RegistryClient,
  type RegistryClientOptions,
  type ResolvedImage,
  type ResolveOptions,
} from "./client.js";
export {
  type Endpoint,
  endpointsFor,
  hostConfig,
  parseRegistryConfig,
  type RegistryConfig,
  type RegistryHostConfig,
} from "./config.js";
export {
  type CredentialStore,
  type Credentials,
  createDockerCredentialStore,
  type DockerCredentialStore,
  type DockerCredentialStoreOptions,
  normalizeAuthKey,
} from "./credentials.js";
export { MANIFEST_ACCEPT, type ManifestBytes } from "./fetch.js";
export {
  apiHost,
  isLoopbackHost,
  manifestReference,
  parseRegistryRef,
  type RegistryRef,
  withDigest,
} from "./names.js";
export type { RetryPolicy } from "./retry.js";
export type { PushBlobOptions, PushBlobResult, UploadOptions } from "./upload.js";
