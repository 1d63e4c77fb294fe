/**
 * Task queue names, built from parts (kebab-case). No runtime dependencies: workflows, workers,
 * the CLI and the API all import this module.
 */
export const CPU_TASK_QUEUE = 'met-cpu';

/** Safe queue-name part: lower case letters, digits, dots and dashes. */
export function queuePart(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** One queue per API provider, so its server-side activity rate limits that provider. */
export function providerTaskQueue(provider: string): string {
  return `met-provider-${queuePart(provider)}`;
}

/** Sampling and scoring with one local model at one precision (any worker that loaded it, on a GPU or the CPU). */
export function modelTaskQueue(model: string, precision: string): string {
  return `met-model-${queuePart(model)}-${queuePart(precision)}`;
}

/**
 * The model queue's name before it stopped saying "gpu" for CPU workers. Model workers poll it too,
 * so activities that runs in flight scheduled there before an upgrade are still served (a replay
 * does not compare task queues: the runs themselves go on unchanged).
 */
export function legacyModelTaskQueue(model: string, precision: string): string {
  return `met-gpu-${queuePart(model)}-${queuePart(precision)}`;
}

/** Work that must stay on one host's GPU (or its CPU, gpu = 'cpu'). */
export function hostTaskQueue(host: string, gpu: number | 'cpu'): string {
  return `met-host-${queuePart(host)}-${gpu === 'cpu' ? 'cpu' : `gpu-${gpu}`}`;
}

/** Search attributes met registers on its namespace (embedded server) and sets on its workflows. */
export const SEARCH_ATTRIBUTES = {
  MetRunId: 'Keyword',
  MetJob: 'Keyword',
  MetCorpus: 'Keyword',
} as const;
