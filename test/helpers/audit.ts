/** Set-up the audit tests share: a stored slice collected to completion, and a wait for a condition. */
import { parseRunSpec, runIdOf, type RunSpecInput } from '../../config/runSpec';
import { collectCorpus } from '../../workflows/collectCorpus';
import { uniqueName, type TestTemporal } from './temporal';

/** Collects a run spec to completion through collectCorpus on `taskQueue` (e.g. an audit's stored reference). */
export async function collectRun(temporal: TestTemporal, taskQueue: string, input: RunSpecInput) {
  const spec = parseRunSpec(input);
  return temporal.client.workflow.execute(collectCorpus, { taskQueue, workflowId: uniqueName('ref'), args: [{ spec, runId: runIdOf(spec) }] });
}

/** Polls `probe` every 300 ms until it gives a value, or fails naming `what` after `deadlineMs`. */
export async function waitFor<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
