import { TestSpec } from '../config/testSpec';
import type { runTest } from '../workflows/runTest';
import { defineJob, snapshotStages } from './job';

/** runTest: one statistical test between two stored samples; its report is the verdict page. */
export const test = defineJob<typeof runTest>()({
  name: 'runTest',
  title: 'test',
  input: TestSpec,
  stages: snapshotStages,
  // rut reads logprob shards only: the scorer's queue is not needed while the test runs.
  queues: () => [],
  corpus: (input) => input.x.corpus,
  report: async (ctx, run) => {
    const { writeTestReport } = await import('./testReport');
    const { htmlPath, alpha, results } = await writeTestReport(ctx.duck, ctx.dataDir, run, await ctx.readRoot(run.input.x.corpus, ['tests']));
    return { htmlPath, section: { kind: 'test', alpha, results } };
  },
});
