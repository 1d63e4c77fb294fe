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
  // Node's codes, and DuckDB's and the OS's words for it (DuckDB raises "IO Error: ... No space left on device").
  const full = code === 'ENOSPC' || code === 'EDQUOT' ? code : DISK_FULL.exec(e.message)?.[0];
  if (full) {
    return ApplicationFailure.create({
      type: ErrorTypes.DiskFull,
      message: `the worker's disk is full (${full}): free space on it, then run met resume. ${withoutPaths(e.message)}`,
      nonRetryable: true,
    });
  }
  if (TRANSIENT_CODES.has(String(code)) || (e as { $retryable?: unknown }).$retryable) {
    return ApplicationFailure.create({ type: ErrorTypes.Transient, message: withoutPaths(`${e.name}: ${e.message}`), nonRetryable: false });
  }
  // Unknown: retried, but only UNKNOWN_ATTEMPTS times (workers/failureClasses.ts), then surfaced.
  return ApplicationFailure.create({ type: e.name, message: withoutPaths(e.message), nonRetryable: false });
}

const DISK_FULL = /No space left on device|Disk quota exceeded|disk is full|Disk full/i;
/** Errors of the network and of stores that heal by themselves: retried as the step's policy says. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

/**
 * An error's message without the worker's absolute paths (its data folder, its home): clients see
 * `.../part-3.parquet`, never where a worker keeps its files. Whole paths only; URLs are left alone.
 */
export function withoutPaths(message: string): string {
  return message.replace(
    /(^|[\s'"(=,:])((?:\/[^\s'"(),:/]+)+\/)([^\s'"(),:/]*)/g,
    (whole, lead: string, _dir: string, base: string, offset: number, text: string) =>
      // "http://host/x": the slash pair of a URL is not a path.
      text.slice(Math.max(0, offset - 1), offset + lead.length + 1).includes('//') || lead === ':' ? whole : `${lead}.../${base}`,
  );
}

/** How often an error of no known class is tried before it is surfaced as non-retryable (issue #28). */
export const UNKNOWN_ATTEMPTS = 3;

/**
 * A failure after `attempt` tries, as the worker raises it: an error of no known class (a plain
 * Error, a library's) fails for good after UNKNOWN_ATTEMPTS tries, saying so, instead of being
 * retried for as long as the step's policy allows (a scorer that says "more than the context size"
 * was retried 20 times). met's own types and Temporal's failures keep their policy.
 */
export function classifyAttempt(failure: TemporalFailure, attempt: number): TemporalFailure {
  if (!(failure instanceof ApplicationFailure) || failure.nonRetryable) return failure;
  const known = (Object.values(ErrorTypes) as string[]).includes(failure.type ?? '');
  if (known || attempt < UNKNOWN_ATTEMPTS) return failure;
  return ApplicationFailure.create({
    type: failure.type ?? 'Error',
    message: `${failure.message} (an unexpected error, the same on ${attempt} tries: not retried further)`,
    nonRetryable: true,
  });
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
