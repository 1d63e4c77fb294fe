import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TemporalFailure } from '@temporalio/common';
import { ErrorTypes, MetError, NON_RETRYABLE_TYPES } from './errors';

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
  const code = (e as Error & { code?: unknown }).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return ApplicationFailure.create({ type: ErrorTypes.DiskFull, message: `the worker's disk is full (${code}): free space on it, then run met resume. ${e.message}`, nonRetryable: true });
  }
  return ApplicationFailure.create({ type: e.name, message: e.message, nonRetryable: false });
}

/**
 * The failure a workflow ends with when a step failed: the root cause's type and message (what to
 * fix), not "Activity task failed". Cancellations, continue-as-new and the workflow's own failures
 * pass through unchanged. Deterministic; for workflow code.
 */
export function rootCauseFailure(err: unknown): unknown {
  if (!(err instanceof ActivityFailure || err instanceof ChildWorkflowFailure)) return err;
  let cause: unknown = err;
  while ((cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) {
    return ApplicationFailure.create({ type: cause.type ?? undefined, message: cause.message, nonRetryable: true, details: cause.details ?? undefined });
  }
  if (cause instanceof TemporalFailure && !(cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure)) {
    // A timeout or termination: its kind and message, as an application failure the caller can read.
    return ApplicationFailure.create({ type: cause.name, message: cause.message, nonRetryable: true });
  }
  return err;
}

/** Runs a workflow's body, failing it with its root cause (see rootCauseFailure). */
export async function withRootCause<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw rootCauseFailure(err);
  }
}
