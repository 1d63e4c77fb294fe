import { defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';
import { PROGRESS_QUERY, type ProgressSnapshot } from '../common/progress';
import type { CellSummary, PowerActivities } from '../activities/power';
import { NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';
import type { PowerSpec } from '../config/powerSpec';
import { slidingWindow } from './window';

/**
 * powerSimulation: a grid (statistic x alternative x samples per prompt x prompt subset) of power
 * cells, against one reference or a composite null of two. Null statistics are computed once per
 * (reference, subset, n, statistic), then the cells fan out over the CPU workers through a
 * sliding window. Each cell is a shard written once, so a rerun
 * (`met resume`) only computes the cells that are missing, with the same seeds.
 */
export interface PowerInput {
  spec: PowerSpec;
  runId: string;
  /**
   * Cells and nulls heartbeat every 2 s while they wait on worker threads; a worker silent this
   * long (killed, hung) has its activity retried elsewhere. Default 120 s (a synchronous stretch of
   * a large cell must fit in it); tests shorten it.
   */
  heartbeatTimeoutSeconds?: number;
}

/** Stages in met's one progress shape (common/progress.ts). */
export type PowerProgress = ProgressSnapshot;

export const powerProgressQuery = defineQuery<PowerProgress>(PROGRESS_QUERY);

async function powerSimulationSteps({ spec, runId, heartbeatTimeoutSeconds }: PowerInput): Promise<CellSummary[]> {
  const acts = proxyActivities<PowerActivities>({
    startToCloseTimeout: '1h',
    heartbeatTimeout: `${heartbeatTimeoutSeconds ?? 120}s`,
    retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
  });
  const progress: PowerProgress = {
    stages: [
      { name: 'null distributions', done: 0, total: 0, unit: 'nulls' },
      { name: 'power cells', done: 0, total: 0, unit: 'cells' },
    ],
  };
  setHandler(powerProgressQuery, () => progress);
  const plan = await acts.planPowerGrid({ spec, runId });
  progress.stages[0].total = plan.nullKeys.length;
  progress.stages[1].total = plan.cells.length;

  async function window<T, R>(items: T[], run: (item: T) => Promise<R>, onDone: () => void): Promise<R[]> {
    const results = new Array<R>(items.length);
    await slidingWindow(items, spec.window, async (item, i) => {
      results[i] = await run(item);
      onDone();
    });
    return results;
  }

  await window(
    plan.nullKeys,
    (key) => acts.computeNulls({ spec, runId, key, subset: plan.subsets[key.draw] }),
    () => progress.stages[0].done++,
  );
  const keys = new Map(plan.nullKeys.map((k) => [k.id, k]));
  return window(
    plan.cells,
    (cell) => acts.runPowerCell({ spec, runId, cell, subset: plan.subsets[cell.draw], nullKeys: cell.nullKeys.map((id) => keys.get(id)!) }),
    () => progress.stages[1].done++,
  );
}

/** The workflow: its steps, failing with their root cause (type and message) rather than "Activity task failed". */
export async function powerSimulation(input: Parameters<typeof powerSimulationSteps>[0]): ReturnType<typeof powerSimulationSteps> {
  return withRootCause(() => powerSimulationSteps(input));
}
