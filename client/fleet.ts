import type { Client } from '@temporalio/client';
import { parseIdentity } from '../temporal/identity';
import { queuesOf } from '../jobs';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import type { RunRecord } from './runs';

/**
 * What polls which queue, from Temporal's task-queue descriptions (DescribeTaskQueue pollers):
 * `met fleet`. Temporal has no "list every queue" call, so the queues asked about are met's CPU
 * queue, those the recorded runs use (their workflow queue, each source's provider or model queue,
 * a scorer's model queue) and any the caller names.
 */
export interface QueuePoller {
  queue: string;
  kind: 'workflow' | 'activity';
  identity: string;
  host?: string;
  pid?: number;
  version?: string;
  model?: string;
  gpu?: string;
  data?: string;
  /** Seconds since this poller last polled. */
  lastPollSecondsAgo?: number;
}

export interface QueueState {
  queue: string;
  kind: 'workflow' | 'activity';
  pollers: QueuePoller[];
}

/** The queues recorded runs need: their own, and the activity queues their kind of job names (jobs/). */
export function queuesOfRuns(records: RunRecord[]): { workflow: string[]; activity: string[] } {
  const workflow = new Set<string>([CPU_TASK_QUEUE]);
  const activity = new Set<string>([CPU_TASK_QUEUE]);
  for (const r of records) {
    workflow.add(r.taskQueue);
    activity.add(r.taskQueue);
    for (const q of queuesOf(r)) activity.add(q);
  }
  return { workflow: [...workflow].sort(), activity: [...activity].sort() };
}

export async function describeFleet(client: Client, queues: { workflow: string[]; activity: string[] }, now = Date.now()): Promise<QueueState[]> {
  const namespace = client.options.namespace;
  const out: QueueState[] = [];
  const ask = async (queue: string, kind: 'workflow' | 'activity') => {
    const r = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: queue }, taskQueueType: kind === 'workflow' ? 1 : 2 });
    const pollers = (r.pollers ?? []).map((p): QueuePoller => {
      const identity = p.identity ?? 'unknown';
      const parsed = parseIdentity(identity);
      const seconds = p.lastAccessTime?.seconds;
      const last = seconds === undefined || seconds === null ? undefined : Number(seconds) * 1000 + Math.floor((p.lastAccessTime?.nanos ?? 0) / 1e6);
      return {
        queue,
        kind,
        identity,
        host: parsed?.host,
        pid: parsed?.pid,
        version: parsed?.version,
        model: parsed?.model,
        gpu: parsed?.gpu,
        data: parsed?.data,
        lastPollSecondsAgo: last === undefined ? undefined : Math.max(0, Math.round((now - last) / 1000)),
      };
    });
    out.push({ queue, kind, pollers: pollers.sort((a, b) => a.identity.localeCompare(b.identity)) });
  };
  for (const q of queues.workflow) await ask(q, 'workflow');
  for (const q of queues.activity) await ask(q, 'activity');
  return out;
}
