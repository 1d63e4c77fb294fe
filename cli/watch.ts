import type { Client } from '@temporalio/client';
import { escapeControls } from '../common/text';
import { PROGRESS_QUERY } from '../common/progress';
import { WorkflowFailedError } from '@temporalio/client';
import { resultThroughOutages } from '../client/outage';
import { isCancellation, missingWorkers, retryingSteps, rootCauseText, unitProgress, type RunRecord } from '../client/runs';
import { JOBS, toStages } from '../jobs';
import { INTERRUPTED_EXIT } from './output';
import { followProgress } from './progress';

const RETRY_CHECK_MS = 3000;

/**
 * Follows a run until it closes: progress bars per stage on a TTY, plain lines otherwise (CI logs).
 * Every met job answers a 'progress' query; its kind turns the answer into stages (jobs/). Ctrl-C
 * stops watching, never the run (exit status 130). A failed run prints its root cause and sets a
 * non-zero exit code.
 */
/** `say` gets the closing lines (stdout by default; stderr when stdout carries JSON). */
export async function watchRun(client: Client, record: RunRecord, say: (line: string) => void = (l) => console.log(l)): Promise<unknown> {
  const handle = client.workflow.getHandle(record.workflowId);
  // A Temporal restart does not end the watch: the run goes on, so the watch waits for the server (bounded).
  const result = resultThroughOutages(client, handle, { runId: record.runId });
  result.catch(() => {});
  // Steps being retried (attempt and last failure) and queues no worker polls show under the bars,
  // checked every few seconds: a run that waits or retries in vain says why while you watch it.
  let retrying: string[] = [];
  let missing: string[] = [];
  let missingLast = new Set<string>();
  let checked = 0;
  // The last poll is awaited before returning: the caller closes the connection next, and a query
  // still retrying then would fire on a closed channel and crash the process. Queries are bounded.
  let inFlight: Promise<unknown> = Promise.resolve();
  const pollOnce = async () => {
    const progress = await client.withDeadline(Date.now() + 2000, () => handle.query(PROGRESS_QUERY)).catch(() => undefined);
    const inUnits = await client.withDeadline(Date.now() + 2000, () => unitProgress(client, record)).catch(() => undefined);
    const snapshot = toStages(record.job, progress, inUnits);
    if (Date.now() - checked >= RETRY_CHECK_MS) {
      checked = Date.now();
      const bounded = <T>(fn: () => Promise<T>) => client.withDeadline(Date.now() + 2000, fn);
      retrying = await bounded(() => retryingSteps(client, record)).catch(() => retrying);
      // Said once two checks in a row agree: a worker that has just started is not listed at once.
      const now = await bounded(() => missingWorkers(client, record, progress)).catch(() => [...missingLast]);
      missing = now.filter((m) => missingLast.has(m));
      missingLast = new Set(now);
    }
    return {
      ...snapshot,
      notes: [...missing.map((m) => `warning: ${escapeControls(m, true)}`), ...retrying.map((r) => `retrying: ${escapeControls(r, true)}`)],
    };
  };
  const watched = await followProgress({
    poll: () => {
      const poll = pollOnce();
      inFlight = poll.catch(() => undefined);
      return poll;
    },
    until: result,
  });
  // Whatever ended the watch, the last poll settles before the caller closes the connection.
  await inFlight;
  if (watched.reason === 'interrupted') {
    say(`Stopped watching; run ${record.runId} goes on (met status ${record.runId} --watch to watch again, met cancel ${record.runId} to stop it).`);
    process.exitCode = INTERRUPTED_EXIT;
    return undefined;
  }
  try {
    const value = await result;
    // A collection that stopped at its budget completes too: say so, and how to go on.
    const budget = JOBS[record.job].budget?.(undefined, value);
    if (budget?.reached)
      say(
        `Run ${record.runId} stopped at its budget: $${budget.spentUsd.toFixed(4)} spent of $${budget.usd.toFixed(4)}; completed shards are kept (met resume ${record.runId} --budget-usd N continues it).`,
      );
    else say(`Run ${record.runId} completed.${budget ? ` Spent $${budget.spentUsd.toFixed(4)} of a $${budget.usd.toFixed(4)} budget.` : ''}`);
    return value;
  } catch (err) {
    process.exitCode = 1;
    if (err instanceof WorkflowFailedError && isCancellation(err)) {
      console.error(`Run ${record.runId} was CANCELLED (met cancel); what it completed is kept, and met resume ${record.runId} continues it.`);
      return undefined;
    }
    if (err instanceof WorkflowFailedError) {
      console.error(`Run ${record.runId} failed: ${escapeControls(rootCauseText(err))}`);
      return undefined;
    }
    throw err;
  }
}

/** Shows progress until the run closes; exits non-zero if it failed. */
export async function waitForRun(
  client: import('@temporalio/client').Client,
  runId: string,
  at: import('../client/runs').RunsAt,
  say?: (line: string) => void,
): Promise<void> {
  const { loadRunRecord } = await import('../client/runs');
  const record = await loadRunRecord(at, runId);
  await watchRun(client, record, say);
}
