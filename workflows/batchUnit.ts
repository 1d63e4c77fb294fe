import { proxyActivities, sleep } from '@temporalio/workflow';
import type { BatchActivities, BatchState } from '../activities/batch';
import type { SampleUnitInput, SamplingActivities, UnitResult } from '../activities/sampling';
import { NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';
import { stepHeartbeatMs } from './heartbeat';

/**
 * batchUnit: one work unit of a run through the provider's Batch API (a source with `batch:`), as
 * a durable workflow, child of collectCorpus. Upload the unit's missing samples as one batch
 * (submitBatch finds the unit's batch if an earlier try created it), poll its status with durable
 * timers (pollSeconds, growing 1.5x to maxPollSeconds; a worker restart loses nothing), journal its
 * output (collectBatch: only samples the journal lacks, so a retried download adds no row), then
 * sampleUnit writes the shard from the journal, sampling online whatever the batch left unanswered.
 */
export interface BatchUnitInput {
  unit: SampleUnitInput;
  /** The source's provider queue. */
  taskQueue: string;
  heartbeatTimeoutSeconds: number;
  noWorkerTimeoutSeconds?: number;
  pollSeconds: number;
  maxPollSeconds: number;
}

export type BatchUnitResult = UnitResult & {
  batch: { batchId: string | null; status: string | null; requests: number; answered: number; onlineAfter: number; polls: number };
};

// Statuses after which a batch changes no more (activities/batch.ts FINAL_BATCH_STATUSES; workflows import activities as types only).
const FINAL = ['completed', 'failed', 'expired', 'cancelled'];

async function batchUnitSteps(input: BatchUnitInput): Promise<BatchUnitResult> {
  const retry = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 25, nonRetryableErrorTypes: NON_RETRYABLE_TYPES };
  const scheduleToStart = input.noWorkerTimeoutSeconds ? { scheduleToStartTimeout: input.noWorkerTimeoutSeconds * 1000 } : {};
  // Upload, poll and download heartbeat on a timer: one that finished while Temporal was away runs again after
  // this, not after its 10 minutes (the source's heartbeat timeout, at least 30 s, as collectCorpus's steps).
  const api = proxyActivities<BatchActivities>({
    taskQueue: input.taskQueue,
    startToCloseTimeout: '10m',
    heartbeatTimeout: stepHeartbeatMs(input.heartbeatTimeoutSeconds),
    ...scheduleToStart,
    retry,
  });
  const { sampleUnit } = proxyActivities<SamplingActivities>({
    taskQueue: input.taskQueue,
    startToCloseTimeout: '2h',
    heartbeatTimeout: input.heartbeatTimeoutSeconds * 1000,
    ...scheduleToStart,
    retry,
  });
  const submitted = await api.submitBatch(input.unit);
  let state: BatchState | undefined;
  let polls = 0;
  let answered = 0;
  if (submitted.batchId) {
    let wait = input.pollSeconds;
    for (;;) {
      await sleep(wait * 1000);
      state = await api.pollBatch({ source: input.unit.source, batchId: submitted.batchId });
      polls += 1;
      if (FINAL.includes(state.status)) break;
      wait = Math.min(wait * 1.5, input.maxPollSeconds);
    }
    const collected = await api.collectBatch({ ...input.unit, batchId: submitted.batchId, outputFileId: state.outputFileId });
    answered = collected.added;
  }
  const result = await sampleUnit(input.unit);
  return {
    ...result,
    batch: {
      batchId: submitted.batchId,
      status: state?.status ?? null,
      requests: submitted.requests,
      answered,
      onlineAfter: result.skipped ? 0 : result.rows - result.resumedFrom,
      polls,
    },
  };
}

/** The workflow: its steps, failing with their root cause (type and message) rather than "Activity task failed". */
export async function batchUnit(input: BatchUnitInput): Promise<BatchUnitResult> {
  return withRootCause(() => batchUnitSteps(input));
}
