import { type Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { ErrorTypes, MetError } from '../common/errors';

/**
 * A watch (`met collect --wait`, `met status --watch`, ...) that outlives a Temporal outage: the
 * run goes on in Temporal while its server restarts, so the watcher waits for it to answer again
 * instead of exiting. It says so once per outage on stderr, retries with a bounded backoff, and
 * gives up after `limitMs` without an answer with a message that says how to watch again.
 */
export interface OutageOptions {
  /** Where Temporal is, for the messages (default: the client's connection's address). */
  address?: string;
  runId: string;
  /** How long Temporal may stay unreachable before the watch gives up (default 10 min, MET_WATCH_OUTAGE_SECONDS). */
  limitMs?: number;
  warn?: (line: string) => void;
  /** Backoff between probes: first and largest delay (default 1 s doubling to 15 s). */
  backoffMs?: { first: number; max: number };
}

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/** Whether the error (or a cause) says the server could not be reached, not that the run failed. */
export function isUnreachable(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (e.code === GRPC_UNAVAILABLE || e.code === GRPC_DEADLINE_EXCEEDED) return true;
    if (typeof e.message === 'string' && /\b(UNAVAILABLE|ECONNREFUSED|ECONNRESET)\b/.test(e.message)) return true;
  }
  return false;
}

export function outageLimitMs(): number {
  const s = Number(process.env.MET_WATCH_OUTAGE_SECONDS);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 10 * 60_000;
}

/** handle.result(), through outages of the Temporal server. */
export async function resultThroughOutages(client: Client, handle: WorkflowHandle, o: OutageOptions): Promise<unknown> {
  const limitMs = o.limitMs ?? outageLimitMs();
  const address = o.address ?? (client.connection instanceof Connection ? client.connection.options.address : 'its address');
  const warn = o.warn ?? ((line: string) => console.error(line));
  const { first, max } = o.backoffMs ?? { first: 1000, max: 15_000 };
  for (;;) {
    try {
      return await handle.result();
    } catch (err) {
      if (!isUnreachable(err)) throw err;
    }
    const since = Date.now();
    warn(`Temporal at ${address} is unreachable, retrying (run ${o.runId} goes on; this watch gives up after ${Math.round(limitMs / 1000)} s)`);
    for (let delay = first; ; delay = Math.min(max, delay * 2)) {
      if (Date.now() - since >= limitMs) {
        throw new MetError(
          ErrorTypes.TemporalUnavailable,
          `Temporal at ${address} has been unreachable for ${Math.round((Date.now() - since) / 1000)} s: stopped watching. Run ${o.runId} is recorded and goes on once Temporal is back; met status ${o.runId} --watch follows it again.`,
        );
      }
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, limitMs - (Date.now() - since)))));
      const back = await client
        .withDeadline(Date.now() + 5000, () => handle.describe())
        .then(
          () => true,
          (err: unknown) => {
            if (isUnreachable(err)) return false;
            throw err;
          },
        );
      if (back) {
        warn(`Temporal at ${address} answers again after ${Math.round((Date.now() - since) / 1000)} s; watching run ${o.runId}`);
        break;
      }
    }
  }
}
