/**
 * Token buckets for requests per minute and tokens per minute, inside one activity. Waiters are
 * served in order; a provider's hint (Retry-After on a 429) pauses the whole bucket.
 */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();
  private pausedUntil = 0;
  private queue: Promise<void> = Promise.resolve();

  /** `perMinute` tokens refill evenly; `burst` caps what can accumulate (default: one second's worth, at least 1). */
  constructor(
    readonly perMinute: number,
    readonly burst = Math.max(1, perMinute / 60),
  ) {
    this.tokens = Math.min(this.burst, 1);
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perMinute) / 60_000);
    this.last = now;
  }

  /** Waits until `n` tokens are available and takes them (n is capped at the burst size). */
  take(n = 1, signal?: AbortSignal): Promise<void> {
    const need = Math.min(n, this.burst);
    const run = async () => {
      for (;;) {
        signal?.throwIfAborted();
        const pause = this.pausedUntil - Date.now();
        if (pause > 0) {
          await sleep(pause, signal);
          continue;
        }
        this.refill();
        if (this.tokens >= need) {
          this.tokens -= need;
          return;
        }
        await sleep(((need - this.tokens) * 60_000) / this.perMinute, signal);
      }
    };
    const turn = this.queue.then(run);
    this.queue = turn.catch(() => {});
    return turn;
  }

  /** Stops handing out tokens for `ms` (a provider said to wait). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
    this.tokens = 0;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
