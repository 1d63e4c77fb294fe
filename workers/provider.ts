import { UNIT_PROGRESS_INTERVAL } from '../activities/heartbeat';
import type { DuckDBInstance } from '@duckdb/node-api';
import { createBatchActivities } from '../activities/batch';
import { createBudgetActivities } from '../activities/budget';
import type { Corpora } from '../datasets/corpora';
import { createSamplingActivities } from '../activities/sampling';
import { createTrackingProbeActivities } from '../activities/tracking';
import { CorpusStore } from '../datasets/corpusStore';
import type { SourceSpec } from '../config/runSpec';
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
  const store = new CorpusStore(deps.duck, deps.dataDir, deps.corpora);
  // Prices are this worker's config (USD per million tokens): a spec's budget is priced here, never by the spec.
  const pricesFor = (source: SourceSpec) => (source.kind === 'provider' ? deps.providers.find((p) => p.name === source.provider)?.prices : undefined);
  const activities = {
    ...createSamplingActivities({ store, generatorFor: () => generator, pricesFor }),
    ...createBudgetActivities({ store, pricesFor }),
    ...createBatchActivities({ store, clients: generator }),
    ...createTrackingProbeActivities({ generator }),
  };
  return deps.providers.map((p) => ({
    taskQueue: providerTaskQueue(p.name),
    activities,
    options: {
      maxConcurrentActivityTaskExecutions: p.concurrentUnits,
      maxTaskQueueActivitiesPerSecond: p.unitsPerSecond,
      // Samples done inside running units reach met status within seconds (workers/model.ts).
      maxHeartbeatThrottleInterval: UNIT_PROGRESS_INTERVAL,
    },
  }));
}
