import { hostname } from 'node:os';
import type { DuckDBInstance } from '@duckdb/node-api';
import { createLogprobActivities } from '../activities/logprobs';
import { createTextScoringActivities } from '../activities/perplexity';
import { createSamplingActivities } from '../activities/sampling';
import { LocalGenerator } from '../collect/localGenerator';
import { CorpusStore } from '../collect/store';
import type { TextBackend } from '../models/backend';
import { hostTaskQueue, modelTaskQueue } from '../temporal/queues';
import type { WorkerPlan } from './run';

/**
 * A model worker: one loaded model (one per process, pinned to one GPU or the CPU) serving its
 * (model, precision) queue for sampling and scoring, and its host/GPU queue for work that must
 * stay on this device. Concurrency 1 per model: llama.cpp evaluates one sequence at a time here.
 */
export function modelWorkerPlans(deps: { dataDir: string; duck: DuckDBInstance; backend: TextBackend; gpu: number | 'cpu'; concurrentUnits?: number }): WorkerPlan[] {
  const store = new CorpusStore(deps.duck, deps.dataDir);
  const generator = new LocalGenerator(deps.backend);
  const activities = {
    ...createSamplingActivities({ store, generatorFor: () => generator }),
    ...createLogprobActivities({ duck: deps.duck, dataDir: deps.dataDir, backend: deps.backend }),
    ...createTextScoringActivities({ backend: deps.backend }),
  };
  const options = { maxConcurrentActivityTaskExecutions: deps.concurrentUnits ?? 1 };
  const plans: WorkerPlan[] = [{ taskQueue: modelTaskQueue(deps.backend.model, deps.backend.precision), activities, options }];
  // The host queue names one device: only a GPU-pinned model owns it (CPU models share the host).
  if (deps.gpu !== 'cpu') plans.push({ taskQueue: hostTaskQueue(hostname(), deps.gpu), activities, options });
  return plans;
}
