import { z } from 'zod';
import { Name } from '../common/names';
import { ConsistencySpec, type ConsistencyPlan } from '../config/consistencySpec';
import { RunSpec } from '../config/runSpec';
import { TestSpec } from '../config/testSpec';
import { modelTaskQueue } from '../temporal/queues';
import { taskQueueFor } from '../collect/plan';
import type { consistencyReport } from '../workflows/consistencyReport';
import { defineJob, snapshotStages } from './job';

/** consistencyReport: two sources collected, scored, compared and tested; the workflow writes its report. */
const Side = z.object({ model: Name, source: Name });
const Input = z.object({
  id: Name,
  corpus: Name,
  runSpec: RunSpec,
  a: Side,
  b: Side,
  scorer: z.object({ model: Name, precision: z.string().min(1) }),
  embed: ConsistencySpec.shape.embed,
  test: TestSpec,
  spec: ConsistencySpec,
}) satisfies z.ZodType<ConsistencyPlan>;

/** What the API and `met report` read of the outcome (ConsistencyOutcome). */
const Outcome = z.object({ id: z.string(), reportPath: z.string() });

export const consistency = defineJob<typeof consistencyReport>()({
  name: 'consistencyReport',
  title: 'consistency',
  input: Input,
  stages: snapshotStages,
  queues: (input) => [...input.runSpec.sources.map(taskQueueFor), modelTaskQueue(input.scorer.model, input.scorer.precision)],
  corpus: (input) => input.corpus,
  // Written by the workflow on a worker's host, and copied to the bucket under its id.
  report: async (ctx) => {
    const outcome = Outcome.parse(await ctx.result());
    return { htmlPath: outcome.reportPath, publishedId: outcome.id };
  },
});
