import { UNIT_PROGRESS_INTERVAL } from '../activities/heartbeat';
import { hostname } from 'node:os';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { Corpora } from '../datasets/corpora';
import { createBillingActivities } from '../activities/billing';
import { createLogprobActivities } from '../activities/logprobs';
import { createTextScoringActivities } from '../activities/perplexity';
import { createSamplingActivities } from '../activities/sampling';
import { LocalGenerator } from '../models/localGenerator';
import { CorpusStore } from '../datasets/corpusStore';
import type { TextBackend } from '../models/backend';
import { hostTaskQueue, legacyModelTaskQueue, modelTaskQueue } from '../temporal/queues';
import type { WorkerPlan } from './run';

/**
 * A model worker: one loaded model (one per process, pinned to one GPU or the CPU) serving its
 * (model, precision) queue for sampling and scoring, and its host/GPU queue for work that must
 * stay on this device. One unit at a time unless the backend samples several sequences at once
 * (`concurrentUnits`, workers/plans.ts): then the units running together share its slots.
 */
export function modelWorkerPlans(deps: {
  dataDir: string;
  duck: DuckDBInstance;
  backend: TextBackend;
  gpu: number | 'cpu';
  concurrentUnits?: number;
  corpora?: Corpora;
}): WorkerPlan[] {
  const store = new CorpusStore(deps.duck, deps.dataDir, deps.corpora);
  const generator = new LocalGenerator(deps.backend);
  const activities = {
    ...createSamplingActivities({ store, generatorFor: () => generator }),
    ...createLogprobActivities({ duck: deps.duck, dataDir: deps.dataDir, backend: deps.backend, corpora: store.corpora }),
    ...createTextScoringActivities({ backend: deps.backend }),
    ...createBillingActivities({ duck: deps.duck, dataDir: deps.dataDir, backend: deps.backend, corpora: store.corpora }),
  };
  // Heartbeats reach the server every few seconds (not every 0.8 x the heartbeat timeout): they carry
  // the samples done inside a running unit, which met status and --wait show (client/runs.ts unitProgress).
  const options = { maxConcurrentActivityTaskExecutions: deps.concurrentUnits ?? 1, maxHeartbeatThrottleInterval: UNIT_PROGRESS_INTERVAL };
  // The identity names the model and GPU, and a worker whose logprobs come from elsewhere says so: met fleet and the HTTP API's /health show it per queue.
  const identity = { model: `${deps.backend.model}/${deps.backend.precision}`, gpu: deps.gpu, scorer: deps.backend.scorerBackend };
  const modelQueue = modelTaskQueue(deps.backend.model, deps.backend.precision);
  const plans: WorkerPlan[] = [
    { taskQueue: modelQueue, activities, options, identity },
    // Runs started before the queue's rename may have scheduled activities on the old name.
    { taskQueue: legacyModelTaskQueue(deps.backend.model, deps.backend.precision), activities, options, identity },
  ];
  // The host queue names one device: only a GPU-pinned model owns it (CPU models share the host).
  if (deps.gpu !== 'cpu') {
    const hostQueue = hostTaskQueue(hostname(), deps.gpu);
    plans.push({ taskQueue: hostQueue, activities, options, identity });
  }
  return plans;
}
