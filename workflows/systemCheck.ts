import { proxyActivities, sleep } from '@temporalio/workflow';
import type { SystemActivities } from '../activities/system';

/**
 * `met doctor`: a round trip through Temporal that proves the server, the CPU worker and its
 * activities work: it asks the worker to describe itself, waits on a durable timer, and asks again.
 */
const { describeWorker } = proxyActivities<SystemActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 5, initialInterval: '200ms' },
});

export interface SystemCheckInput {
  /** Durable timer between the two probes (tests use it to restart things in between). */
  pause: string | number;
}

export interface SystemCheckResult {
  first: Awaited<ReturnType<SystemActivities['describeWorker']>>;
  second: Awaited<ReturnType<SystemActivities['describeWorker']>>;
}

export async function systemCheck(input: SystemCheckInput): Promise<SystemCheckResult> {
  const first = await describeWorker();
  await sleep(input.pause);
  const second = await describeWorker();
  return { first, second };
}
