import { type Client, WorkflowFailedError } from '@temporalio/client';
import { type IdentifyResult, identifyResult, type IdentifySpec, identifyTests } from '../config/identifySpec';
import { resultOf } from '../jobs';
import { newRunRecord, rootCauseText, type RunsAt, saveRunRecord, startOrAttach } from './runs';

/**
 * Which model is it really serving: one runTest workflow per candidate (as `met test` starts
 * them, so a repeated question attaches to the same runs), Holm-corrected over the candidates
 * (config/identifySpec.ts, which an audit firing uses too).
 */
/** Starts (or attaches to) every candidate's test, waits for all, and corrects. */
export async function runIdentify(client: Client, runs: RunsAt, spec: IdentifySpec, options: { taskQueue: string }): Promise<IdentifyResult> {
  const tests = identifyTests(spec);
  const outcomes = await Promise.all(
    tests.map(async (input) => {
      const record = newRunRecord({ job: 'runTest', input }, input.testId, { taskQueue: options.taskQueue });
      await saveRunRecord(runs, record);
      await startOrAttach(client, record);
      try {
        return await resultOf<'runTest'>(client, { job: 'runTest', input, workflowId: record.workflowId });
      } catch (err) {
        if (!(err instanceof WorkflowFailedError)) throw err;
        throw new Error(`the test against ${input.x.model}/${input.x.source} (run ${record.runId}) failed: ${rootCauseText(err)}`, { cause: err });
      }
    }),
  );
  return identifyResult(spec, outcomes);
}
