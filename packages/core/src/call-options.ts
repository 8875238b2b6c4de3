/** Every async API in kiln takes these options; `signal` aborts the work with a reason. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}
