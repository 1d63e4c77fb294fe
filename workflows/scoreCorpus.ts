import type { Duration } from '@temporalio/common';
import { PROGRESS_QUERY } from '../common/progress';
import { continueAsNew, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { LogprobActivities, SampleShardRef, ScoringPlanActivities } from '../activities/logprobs';
import { NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';
import { modelTaskQueue } from '../temporal/queues';
import { STEP_HEARTBEAT_TIMEOUT } from './heartbeat';
import { slidingWindow } from './window';

/**
 * scoreCorpus: token logprobs of every stored completion (or a selection) under a reference
 * model, on that model's queue, one logprob shard per sample shard, exactly once. Resumable like
 * collection: a shard whose logprob shard exists and validates is skipped.
 */
/** Shards started per execution before continue-as-new (keeps the history small, like collectCorpus's units). */
const SHARDS_PER_EXECUTION = 400;

const cpu = proxyActivities<ScoringPlanActivities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});

export interface ScoreCorpusInput {
  corpus: string;
  scorer: { model: string; precision: string };
  models?: string[];
  sources?: string[];
  /** Shards scored at once (across the scorer's workers). */
  window?: number;
  /** How long a silent scorer (killed, hung) is waited for before its shard is retried elsewhere (default 2m). */
  heartbeatTimeout?: Duration;
}

export interface ScoreProgress {
  shardsTotal: number;
  shardsDone: number;
  rowsDone: number;
  tokens: number;
}

export const scoreProgressQuery = defineQuery<ScoreProgress>(PROGRESS_QUERY);

async function scoreCorpusSteps(input: ScoreCorpusInput): Promise<ScoreProgress> {
  const { scoreShard } = proxyActivities<LogprobActivities>({
    taskQueue: modelTaskQueue(input.scorer.model, input.scorer.precision),
    startToCloseTimeout: '2h',
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- Duration's template type (from 'ms') does not resolve under the linter; tsc checks it
    heartbeatTimeout: input.heartbeatTimeout ?? '2m',
    retry: { initialInterval: '1s', maximumInterval: '1m', maximumAttempts: 20, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
  });
  const progress: ScoreProgress = { shardsTotal: 0, shardsDone: 0, rowsDone: 0, tokens: 0 };
  setHandler(scoreProgressQuery, () => progress);
  const shards: SampleShardRef[] = await cpu.listSampleShards({
    corpus: input.corpus,
    models: input.models,
    sources: input.sources,
    precision: input.scorer.precision,
  });
  progress.shardsTotal = shards.length;
  let started = 0;
  const more = () => started < SHARDS_PER_EXECUTION && !workflowInfo().continueAsNewSuggested;
  await slidingWindow(
    shards,
    input.window ?? 4,
    async (shard) => {
      started++;
      const r = await scoreShard({ corpus: input.corpus, shard, scorer: input.scorer });
      progress.shardsDone++;
      progress.rowsDone += r.rows;
      progress.tokens += r.tokens;
    },
    more,
  );
  if (started < shards.length) await continueAsNew<typeof scoreCorpus>(input);
  return progress;
}

/** The workflow: its steps, failing with their root cause (type and message) rather than "Activity task failed". */
export async function scoreCorpus(input: Parameters<typeof scoreCorpusSteps>[0]): ReturnType<typeof scoreCorpusSteps> {
  return withRootCause(() => scoreCorpusSteps(input));
}
