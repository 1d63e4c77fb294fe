import { randomUUID } from 'node:crypto';
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { TimeoutFailure } from '@temporalio/common';
import { ErrorTypes, MetError } from '../common/errors';
import type { SystemCheckResult, systemCheck } from '../workflows/systemCheck';

/**
 * `met doctor`'s round trip: the systemCheck workflow on a CPU queue proves the Temporal server,
 * a worker polling that queue, its activities and a durable timer all work. Bounded: with no
 * worker, the workflow times out and the caller is told which command starts one.
 */
export async function checkSystem(client: Client, taskQueue: string, timeoutSeconds: number): Promise<SystemCheckResult & { seconds: number }> {
  const started = Date.now();
  try {
    const result = await client.workflow.execute<typeof systemCheck>('systemCheck', {
      taskQueue,
      workflowId: `met-doctor-${randomUUID()}`,
      args: [{ pause: '10ms' }],
      workflowExecutionTimeout: `${timeoutSeconds}s`,
    });
    return { ...result, seconds: (Date.now() - started) / 1000 };
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof TimeoutFailure) {
      throw new MetError(
        ErrorTypes.NoWorker,
        `no worker on task queue ${taskQueue} answered within ${timeoutSeconds} s: start one with 'met worker' (or 'met up' for everything on this machine)`,
      );
    }
    throw err;
  }
}
