import { defineQuery, executeChild, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Comparison, ConsistencyActivities } from '../activities/consistency';
import type { TestOutcome } from '../activities/tests';
import { NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';
import { PROGRESS_QUERY, type ProgressSnapshot } from '../common/progress';
import type { ConsistencyPlan } from '../config/consistencySpec';
import { collectCorpus } from './collectCorpus';
import { STEP_HEARTBEAT_TIMEOUT } from './heartbeat';
import { runTest } from './runTest';
import { scoreCorpus } from './scoreCorpus';

/**
 * consistencyReport: are two sources serving the same model? Collects both sides on the same
 * prompts (a child collectCorpus: exactly once, resumable, reused when already collected), scores
 * both under one scorer (child scoreCorpus on the scorer's queue), compares answers by embedding
 * similarity and perplexity, runs the MMD test (child runTest) and writes the report.
 */
// Both steps heartbeat on a timer (the embeddings are awaited, never computed on the event loop).
const cpu = proxyActivities<ConsistencyActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});

export interface ConsistencyOutcome {
  id: string;
  corpus: string;
  comparison: Comparison;
  mmd: TestOutcome;
  reportPath: string;
  dataPath: string;
}

const STEPS = ['collecting', 'scoring', 'comparing', 'testing', 'reporting', 'done'] as const;
export type ConsistencyStep = (typeof STEPS)[number];
/** Answers like every met job (cli/watch.ts): one stage, counting the steps done. */
export const consistencyProgressQuery = defineQuery<ProgressSnapshot>(PROGRESS_QUERY);

async function consistencyReportSteps(plan: ConsistencyPlan): Promise<ConsistencyOutcome> {
  let stage: ConsistencyStep = 'collecting';
  setHandler(consistencyProgressQuery, () => ({
    stages: [{ name: `consistency (${stage})`, done: STEPS.indexOf(stage), total: STEPS.length - 1, unit: 'steps' }],
    finished: stage === 'done',
  }));
  const id = workflowInfo().workflowId;
  await executeChild(collectCorpus, { workflowId: `${id}/collect`, args: [{ spec: plan.runSpec, runId: plan.runSpec.runId! }] });
  stage = 'scoring';
  await executeChild(scoreCorpus, {
    workflowId: `${id}/score`,
    args: [
      { corpus: plan.corpus, scorer: plan.scorer, models: [...new Set([plan.a.model, plan.b.model])], sources: [...new Set([plan.a.source, plan.b.source])] },
    ],
  });
  stage = 'comparing';
  const comparison = await cpu.compareSides({ corpus: plan.corpus, a: plan.a, b: plan.b, scorer: plan.scorer, embed: plan.embed });
  stage = 'testing';
  const mmd = await executeChild(runTest, { workflowId: `${id}/test`, args: [plan.test] });
  stage = 'reporting';
  const report = await cpu.writeConsistencyReport({ id: plan.id, spec: plan.spec, a: plan.a, b: plan.b, comparison, mmd, workflowId: id });
  stage = 'done';
  return { id: plan.id, corpus: plan.corpus, comparison, mmd, reportPath: report.htmlPath, dataPath: report.dataPath };
}

/** The workflow: its steps, failing with their root cause (type and message) rather than "Activity task failed". */
export async function consistencyReport(input: Parameters<typeof consistencyReportSteps>[0]): ReturnType<typeof consistencyReportSteps> {
  return withRootCause(() => consistencyReportSteps(input));
}
