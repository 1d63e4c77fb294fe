import { z } from 'zod';
import { Name } from '../common/names';
import { RunSpec } from '../config/runSpec';
import { taskQueueFor } from '../collect/plan';
import type { collectCorpus, CollectInput } from '../workflows/collectCorpus';
import { defineJob } from './job';

/** collectCorpus: samples from every source of a run spec into the spec's corpus. */
const Input = z.object({
  spec: RunSpec,
  runId: Name,
  unitsPerExecution: z.number().int().positive().optional(),
  carried: z
    .object({
      executions: z.number().int().nonnegative(),
      samplesBefore: z.number().nonnegative(),
      cursor: z.object({ from: z.array(z.number()), doneUnits: z.array(z.number()), doneRows: z.array(z.number()) }).optional(),
    })
    .optional(),
}) satisfies z.ZodType<CollectInput>;

const Budget = z.object({ usd: z.number(), spentUsd: z.number(), reservedUsd: z.number().optional(), reached: z.boolean() });
/** The part of the progress query's answer (CollectProgress) that readers show. */
const Progress = z.object({
  sources: z.array(
    z.object({
      model: z.string(),
      source: z.string(),
      taskQueue: z.string(),
      done: z.number(),
      total: z.number(),
      errors: z.record(z.string(), z.number()),
      samplesPerSecond: z.number(),
    }),
  ),
  budget: Budget.optional(),
});
const Result = z.object({ budget: Budget.optional() });

export const collect = defineJob<typeof collectCorpus>()({
  name: 'collectCorpus',
  title: 'collection',
  input: Input,
  // Committed samples, plus what running units have sampled (their heartbeats): progress moves from the first sample.
  stages: (progress, inUnits) => ({
    stages: (collectProgress(progress)?.sources ?? []).map((s) => ({
      name: `${s.model}/${s.source}`,
      done: Math.min(s.total, s.done + (inUnits?.get(`${s.model}/${s.source}`)?.samples ?? 0)),
      total: s.total,
      errors: s.errors,
      unit: 'samples',
    })),
  }),
  queues: (input) => input.spec.sources.map(taskQueueFor),
  corpus: (input) => input.spec.corpus,
  unitActivity: 'sampleUnit',
  budget: (progress, result) => collectProgress(progress)?.budget ?? Result.safeParse(result).data?.budget,
});

/** A collection's progress answer, or undefined when it has none of the expected shape. */
export function collectProgress(progress: unknown): z.infer<typeof Progress> | undefined {
  return Progress.safeParse(progress).data;
}
