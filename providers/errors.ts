import { ApplicationFailure } from '@temporalio/common';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { ErrorTypes } from '../common/errors';
import { ResponseTooLargeError } from './transport';

/**
 * One place that turns what a provider answered into what met does about it:
 *   400/404/409/422 -> fail the unit, non-retryable, with the provider's message (keys redacted)
 *   401/403         -> fail fast, non-retryable, naming the provider and the env var to set
 *   429/503         -> retry after Retry-After / retry-after-ms / x-ratelimit-reset-*
 *   other 5xx, timeouts, connection errors, malformed or truncated bodies -> retry with backoff
 *   a body over the worker's maxResponseBytes, a completion longer than maxTokens allows -> fail
 *     the unit, non-retryable: the provider would answer the same again (issue #28)
 */
export type FaultKind =
  'rate_limited' | 'unavailable' | 'server_error' | 'timeout' | 'connection' | 'malformed' | 'auth' | 'bad_request' | 'too_large' | 'too_long';

/** Characters a completion may hold per token of maxTokens: no tokenizer met knows has tokens this long. */
export const MAX_CHARS_PER_TOKEN = 64;

/** A completion longer than the request's max_tokens allows: the provider ignored it (samplesFromResponse). */
export class CompletionTooLongError extends Error {
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'CompletionTooLongError';
  }
}

export interface ProviderFault {
  kind: FaultKind;
  retryable: boolean;
  /** Delay the provider asked for, in ms, if any. */
  retryAfterMs?: number;
  message: string;
}

/** Replaces every occurrence of each secret by [REDACTED]; also bearer tokens and sk- style keys. */
export function redact(text: string, secrets: (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[REDACTED]');
  return out.replace(/Bearer\s+[A-Za-z0-9._~+/=-]+/g, 'Bearer [REDACTED]').replace(/\bsk-[A-Za-z0-9_-]{8,}/g, 'sk-[REDACTED]');
}

/**
 * The shortest wait met honours. "Retry-After: 0", "retry-after-ms: 0" and HTTP dates in the past
 * mean "retry now"; passed to Temporal as nextRetryDelay 0 they ended the activity's retries instead.
 */
export const MIN_RETRY_DELAY_MS = 100;

/** Seconds or an HTTP date in Retry-After; milliseconds in retry-after-ms; x-ratelimit-reset-* like "1.5s"/"20ms"/"1m3s". At least MIN_RETRY_DELAY_MS. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  const raw = rawRetryAfterMs(headers, now);
  return raw === undefined ? undefined : Math.max(MIN_RETRY_DELAY_MS, raw);
}

function rawRetryAfterMs(headers: Headers | undefined, now: number): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (ra) {
    if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra) * 1000);
    const date = Date.parse(ra);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  const resets = ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens', 'x-ratelimit-reset']
    .map((h) => headers.get(h))
    .filter((v): v is string => !!v)
    .map(parseDuration)
    .filter((v): v is number => v !== undefined);
  return resets.length ? Math.max(...resets) : undefined;
}

function parseDuration(text: string): number | undefined {
  if (Number.isFinite(Number(text))) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let matched = false;
  for (const m of text.matchAll(re)) {
    matched = true;
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  }
  return matched ? total : undefined;
}

export function classifyProviderError(err: unknown, ctx: { provider: string; keyEnv?: string; secrets: (string | undefined)[] }): ProviderFault {
  const clean = (m: string) => redact(m, ctx.secrets);
  if (err instanceof APIUserAbortError) return { kind: 'timeout', retryable: true, message: 'request aborted' };
  if (err instanceof APIConnectionTimeoutError) return { kind: 'timeout', retryable: true, message: `request to ${ctx.provider} timed out` };
  if (err instanceof APIConnectionError) {
    const cause = (err as Error & { cause?: Error }).cause?.message ?? err.message;
    return { kind: 'connection', retryable: true, message: clean(`connection to ${ctx.provider} failed: ${cause}`) };
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    const message = clean(`${ctx.provider} answered ${status}: ${err.message}`);
    if (status === 401 || status === 403) {
      const fix = ctx.keyEnv
        ? `set ${ctx.keyEnv} in the environment of the ${ctx.provider} worker to a valid key`
        : `configure an API key (apiKeyEnv) for ${ctx.provider}`;
      return { kind: 'auth', retryable: false, message: `${ctx.provider} rejected the API key (${status}): ${fix}. ${clean(err.message)}` };
    }
    if (status === 429) return { kind: 'rate_limited', retryable: true, retryAfterMs: retryAfterMs(err.headers as Headers | undefined), message };
    if (status === 503) return { kind: 'unavailable', retryable: true, retryAfterMs: retryAfterMs(err.headers as Headers | undefined), message };
    if (status === 408 || status >= 500)
      return { kind: 'server_error', retryable: true, retryAfterMs: retryAfterMs(err.headers as Headers | undefined), message };
    return { kind: 'bad_request', retryable: false, message };
  }
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof ResponseTooLargeError)
      return {
        kind: 'too_large',
        retryable: false,
        message: clean(`${ctx.provider} answered more than the worker accepts: ${e.message}; raise maxResponseBytes for this provider if that is expected`),
      };
    if (e instanceof CompletionTooLongError)
      return { kind: 'too_long', retryable: false, message: clean(`${ctx.provider} ignored max_tokens: ${e.message}. Nothing of this request was kept`) };
  }
  // JSON parse failures of malformed or truncated bodies, and anything unexpected in a response.
  const text = err instanceof Error ? err.message : String(err);
  return { kind: 'malformed', retryable: true, message: clean(`malformed response from ${ctx.provider}: ${text}`) };
}

/** The failure an activity throws for a fault it could not absorb. */
export function faultToFailure(fault: ProviderFault): ApplicationFailure {
  const type = fault.kind === 'auth' ? ErrorTypes.ProviderAuth : fault.retryable ? ErrorTypes.ProviderUnavailable : ErrorTypes.ProviderRequest;
  return ApplicationFailure.create({
    type,
    message: fault.message,
    nonRetryable: !fault.retryable,
    // Never 0: Temporal reads a zero delay as no retry at all.
    nextRetryDelay: fault.retryAfterMs !== undefined ? Math.max(MIN_RETRY_DELAY_MS, Math.ceil(fault.retryAfterMs)) : undefined,
  });
}
