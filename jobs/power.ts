import { z } from 'zod';
import { Name } from '../common/names';
import { PowerSpec } from '../config/powerSpec';
import type { powerSimulation, PowerInput } from '../workflows/powerSimulation';
import { defineJob, snapshotStages } from './job';

/** powerSimulation: a grid of power cells; its report is the power table and plots. */
const Input = z.object({ spec: PowerSpec, runId: Name, heartbeatTimeoutSeconds: z.number().positive().optional() }) satisfies z.ZodType<PowerInput>;

export const power = defineJob<typeof powerSimulation>()({
  name: 'powerSimulation',
  title: 'power grid',
  input: Input,
  stages: snapshotStages,
  queues: () => [],
  corpus: (input) => input.spec.corpus,
  report: async (ctx, run) => {
    const { writePowerReport } = await import('./powerReport');
    const { report, section } = await writePowerReport(ctx.duck, ctx.dataDir, run, await ctx.readRoot(run.input.spec.corpus, ['power']));
    return { htmlPath: report.htmlPath, section };
  },
});
