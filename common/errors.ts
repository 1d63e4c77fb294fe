import { ApplicationFailure, TemporalFailure } from '@temporalio/common';

/**
 * met's domain errors. Each has a stable `type` (used by RetryPolicy.nonRetryableErrorTypes and by
 * tests) and a message that says what to fix. Safe to import from workflow code.
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

/**
 * Converts a MetError (or any error) into the failure an activity should throw. Temporal's own
 * failures (cancellation, an ApplicationFailure with its retry hints) pass through unchanged.
 */
export function toApplicationFailure(err: unknown): TemporalFailure {
  if (err instanceof TemporalFailure) return err;
  if (err instanceof MetError) {
    return ApplicationFailure.create({
      type: err.type,
      message: err.message,
      nonRetryable: NON_RETRYABLE_TYPES.includes(err.type),
    });
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return ApplicationFailure.create({ type: e.name, message: e.message, nonRetryable: false });
}
