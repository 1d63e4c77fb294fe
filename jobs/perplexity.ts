import { PerplexityRequest, ScorerRef } from '../config/perplexitySpec';
import { modelTaskQueue } from '../temporal/queues';
import type { ensembledPerplexity } from '../workflows/ensembledPerplexity';
import { defineJob } from './job';

/** ensembledPerplexity: texts scored by several models, each on its own queue (POST /v1/perplexity). */
export const perplexity = defineJob<typeof ensembledPerplexity>()({
  name: 'ensembledPerplexity',
  title: 'perplexity',
  input: PerplexityRequest,
  stages: () => ({ stages: [] }),
  queues: (input) => input.models.map((m) => ScorerRef.parse(m)).map((m) => modelTaskQueue(m.model, m.precision)),
  corpus: () => undefined,
});
