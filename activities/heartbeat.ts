import { Context } from '@temporalio/activity';

/**
 * Heartbeats on a timer while `work` runs, so an activity that is alive but waiting (worker
 * threads, a rate limit, a slow model) is not taken for a dead worker, while a killed process or a
 * blocked event loop still is. Every 2 s, or a third of the heartbeat timeout when that is shorter.
 * `details` gives what a retry resumes from (e.g. the samples already durable).
 */
export async function heartbeating<T>(work: () => Promise<T>, details?: () => unknown): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    ctx = undefined; // called outside an activity (a script, a bench)
  }
  const everyMs = Math.max(250, Math.min(2000, (ctx?.info.heartbeatTimeoutMs ?? Infinity) / 3));
  const timer = ctx ? setInterval(() => ctx.heartbeat(details?.()), everyMs) : undefined;
  try {
    return await work();
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** How often a sampling worker's heartbeats (with their in-unit progress) reach the server at most. */
export const UNIT_PROGRESS_INTERVAL = '3s';

const onATimer = new WeakSet<object>();

/**
 * The same activities, each heartbeating on a timer while it runs (heartbeating above): for steps
 * with no progress of their own to report, scheduled with a heartbeat timeout. Without one, a step
 * that finished while Temporal was away (the SDK drops a completion it could not deliver in about
 * 10 s) or whose worker was killed is known lost only at its start-to-close timeout, and its run
 * waits that long (test/collect/watchOutage.test.ts).
 */
export function heartbeatingAll<T extends Record<string, (input: never) => Promise<unknown>>>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, step]) => {
      const wrapped = (input: never) => heartbeating(() => step(input));
      onATimer.add(wrapped);
      return [name, wrapped];
    }),
  ) as T;
}

/** Whether `activity` came out of heartbeatingAll (test/workflows/heartbeats.test.ts checks every activity a workflow schedules with a heartbeat timeout). */
export function heartbeatsOnATimer(activity: unknown): boolean {
  return typeof activity === 'function' && onATimer.has(activity);
}
