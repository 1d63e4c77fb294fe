import { type Duration, msToNumber } from '@temporalio/common';
import { z } from 'zod';
import { Name } from '../common/names';
import { modelTaskQueue } from '../temporal/queues';
import type { scoreCorpus, ScoreCorpusInput } from '../workflows/scoreCorpus';
import { defineJob } from './job';

/** scoreCorpus: token logprobs of a corpus's completions under a reference model, on its queue. */
const Input = z.object({
  corpus: Name,
  scorer: z.object({ model: Name, precision: z.string().min(1) }),
  models: z.array(Name).optional(),
  sources: z.array(Name).optional(),
  window: z.number().int().positive().optional(),
  heartbeatTimeout: z.custom<Duration>(isDuration, 'a duration such as 30s or 2m, or milliseconds').optional(),
}) satisfies z.ZodType<ScoreCorpusInput>;

const Progress = z.object({ shardsDone: z.number(), shardsTotal: z.number() });

export const score = defineJob<typeof scoreCorpus>()({
  name: 'scoreCorpus',
  title: 'scoring',
  input: Input,
  stages: (progress) => {
    const p = Progress.safeParse(progress).data;
    return { stages: p ? [{ name: 'scored shards', done: p.shardsDone, total: p.shardsTotal, unit: 'shards' }] : [] };
  },
  queues: (input) => [modelTaskQueue(input.scorer.model, input.scorer.precision)],
  corpus: (input) => input.corpus,
});

/** A Temporal duration ('30s', '2m', or milliseconds), as Temporal itself reads it. */
function isDuration(value: unknown): boolean {
  if (typeof value !== 'number' && typeof value !== 'string') return false;
  try {
    return msToNumber(value as Duration) >= 0;
  } catch {
    return false;
  }
}
