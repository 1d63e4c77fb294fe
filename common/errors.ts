/**
 * met's domain errors. Each has a stable `type` (used by RetryPolicy.nonRetryableErrorTypes and by
 * tests) and a message that says what to fix. Safe to import from workflow code. No dependencies,
 * so the CLI can load it without Temporal (their conversion to Temporal failures: common/failures.ts).
 */
export const ErrorTypes = {
  BadRunSpec: 'MetBadRunSpec',
  BadInput: 'MetBadInput',
  TooFewSamples: 'MetTooFewSamples',
  ShardCorrupt: 'MetShardCorrupt',
  SchemaVersion: 'MetSchemaVersion',
  ProviderAuth: 'MetProviderAuth',
  ProviderRequest: 'MetProviderRequest',
  ProviderUnavailable: 'MetProviderUnavailable',
  ChecksumMismatch: 'MetChecksumMismatch',
  UnsafeArchive: 'MetUnsafeArchive',
  TemporalUnavailable: 'MetTemporalUnavailable',
  NotFound: 'MetNotFound',
  /** A run spec or request asked for something only the worker's own config may decide (an endpoint that gets a key, a file outside the allowed roots). */
  Forbidden: 'MetForbidden',
  /** The worker's disk is full (ENOSPC, EDQUOT): retrying does not free space. */
  DiskFull: 'MetDiskFull',
  /** No worker took work from a queue within the run's noWorkerTimeoutSeconds. */
  NoWorker: 'MetNoWorker',
  /** A slice would hold (or holds) a sample key twice: docs/slices.md. */
  DuplicateSamples: 'MetDuplicateSamples',
  /** A network or store error that heals by itself (a reset connection, a throttled bucket): retried by the step's policy. */
  Transient: 'MetTransient',
} as const;
export type ErrorType = (typeof ErrorTypes)[keyof typeof ErrorTypes];

/** Non-retryable by default: bad input does not get better by retrying. */
export const NON_RETRYABLE_TYPES: ErrorType[] = [
  ErrorTypes.BadRunSpec,
  ErrorTypes.BadInput,
  ErrorTypes.TooFewSamples,
  ErrorTypes.SchemaVersion,
  ErrorTypes.ProviderAuth,
  ErrorTypes.ProviderRequest,
  ErrorTypes.UnsafeArchive,
  ErrorTypes.NotFound,
  ErrorTypes.Forbidden,
  ErrorTypes.DiskFull,
  ErrorTypes.NoWorker,
  ErrorTypes.DuplicateSamples,
];

/** An error for the user (CLI, HTTP API, library callers). */
export class MetError extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}
