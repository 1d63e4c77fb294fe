import type { DuckDBInstance } from '@duckdb/node-api';
import type { Corpora } from '../datasets/corpora';
import { type AlertConfig, createAuditActivities } from '../activities/audits';
import { createTrackingActivities } from '../activities/tracking';
import { createCollectActivities } from '../activities/collect';
import { createConsistencyActivities } from '../activities/consistency';
import { createDownloadActivities } from '../activities/download';
import { createScoringPlanActivities } from '../activities/logprobs';
import { createPowerActivities } from '../activities/power';
import { createSystemActivities } from '../activities/system';
import { createTestActivities } from '../activities/tests';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import type { WorkerPlan } from './run';

/**
 * The CPU worker: all workflows, and the activities that need no GPU or provider key (shards,
 * statistics, power cells, downloads, reports).
 */
export function cpuWorkerPlan(deps: {
  dataDir: string;
  duck: DuckDBInstance;
  taskQueue?: string;
  env?: Record<string, string | undefined>;
  promptRoots?: string[];
  modelRoots?: string[];
  alerts?: AlertConfig;
  corpora?: Corpora;
}): WorkerPlan {
  const taskQueue = deps.taskQueue ?? CPU_TASK_QUEUE;
  return {
    taskQueue,
    workflows: true,
    activities: {
      ...createSystemActivities({ queues: [taskQueue] }),
      ...createCollectActivities({ duck: deps.duck, dataDir: deps.dataDir, promptRoots: deps.promptRoots, corpora: deps.corpora }),
      ...createScoringPlanActivities({ duck: deps.duck, dataDir: deps.dataDir, corpora: deps.corpora }),
      ...createTestActivities({ duck: deps.duck, dataDir: deps.dataDir, corpora: deps.corpora }),
      ...createPowerActivities({ duck: deps.duck, dataDir: deps.dataDir, corpora: deps.corpora }),
      ...createConsistencyActivities({ duck: deps.duck, dataDir: deps.dataDir, env: deps.env, modelRoots: deps.modelRoots, corpora: deps.corpora }),
      ...createDownloadActivities({ duck: deps.duck, dataDir: deps.dataDir, env: deps.env }),
      ...createAuditActivities({ duck: deps.duck, dataDir: deps.dataDir, alerts: deps.alerts, corpora: deps.corpora }),
      ...createTrackingActivities({ duck: deps.duck, dataDir: deps.dataDir, promptRoots: deps.promptRoots, corpora: deps.corpora }),
    },
  };
}
