import { z } from 'zod';

/** Fault injection settings of `met serve` (rates are probabilities per request). */
export const FaultOptions = z.object({
  fail429: z.number().min(0).max(1).default(0),
  /** Seconds sent in Retry-After with injected 429s (fractions go in retry-after-ms). */
  retryAfter: z.number().min(0).default(1),
  fail500: z.number().min(0).max(1).default(0),
  hang: z.number().min(0).max(1).default(0),
  malformed: z.number().min(0).max(1).default(0),
  truncate: z.number().min(0).max(1).default(0),
  /** Accepted requests per second; more are answered 429 with the wait until a slot frees. */
  rps: z.number().positive().optional(),
  /** Added latency per answered request, in ms (a slow provider). */
  latencyMs: z.number().min(0).default(0),
  /**
   * Report this fraction more completion tokens in `usage` than were generated (0.2: 20% more): a
   * dishonest bill, for tests of the billing audit. The text and token ids stay what was generated.
   */
  inflateCompletionTokens: z.number().min(0).max(10).default(0),
  /** Require this bearer key (tests of 401 handling). */
  requireKey: z.string().optional(),
});
export type FaultOptions = z.infer<typeof FaultOptions>;
export type Fault = 'rate_limited' | 'server_error' | 'hang' | 'malformed' | 'truncate';

/** mulberry32: small, fast, seeded; enough for deciding faults reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pickFault(options: FaultOptions, random: () => number): Fault | undefined {
  const r = random();
  let edge = 0;
  for (const [fault, rate] of [
    ['rate_limited', options.fail429],
    ['server_error', options.fail500],
    ['hang', options.hang],
    ['malformed', options.malformed],
    ['truncate', options.truncate],
  ] as const) {
    edge += rate;
    if (r < edge) return fault;
  }
  return undefined;
}

/** Sliding one-second window of accepted requests, for --rps and for tests that check the rate. */
export class RateWindow {
  private times: number[] = [];
  maxInAnySecond = 0;

  /** Milliseconds until a slot frees if `limit` is reached, else 0 and the request is recorded. */
  admit(limit: number | undefined, now = performance.now()): number {
    while (this.times.length && now - this.times[0] >= 1000) this.times.shift();
    if (limit !== undefined && this.times.length >= limit) return Math.max(1, 1000 - (now - this.times[0]));
    this.times.push(now);
    this.maxInAnySecond = Math.max(this.maxInAnySecond, this.times.length);
    return 0;
  }
}
