import type { DuckDBInstance } from '@duckdb/node-api';
import type { Corpora } from '../datasets/corpora';
import { createSamplingActivities } from '../activities/sampling';
import { CorpusStore } from '../collect/store';
import type { ProviderWorkerSpec } from '../config/workers';
import { ProviderGenerator } from '../providers/generator';
import { providerTaskQueue } from '../temporal/queues';
import type { WorkerPlan } from './run';

/**
 * Provider workers: one task queue per API provider. The queue's server-side activity rate
 * (unitsPerSecond) bounds work units across every worker; the token buckets inside the activity
 * bound requests and tokens per minute. Keys come from this process's environment only.
 */
export function providerWorkerPlans(deps: {
  dataDir: string;
  duck: DuckDBInstance;
  providers: ProviderWorkerSpec[];
  env: Record<string, string | undefined>;
  corpora?: Corpora;
}): WorkerPlan[] {
  const generator = new ProviderGenerator({ env: deps.env, providers: deps.providers });
  const activities = createSamplingActivities({ store: new CorpusStore(deps.duck, deps.dataDir, deps.corpora), generatorFor: () => generator });
  return deps.providers.map((p) => ({
    taskQueue: providerTaskQueue(p.name),
    activities,
    options: {
      maxConcurrentActivityTaskExecutions: p.concurrentUnits,
      maxTaskQueueActivitiesPerSecond: p.unitsPerSecond,
    },
  }));
}
