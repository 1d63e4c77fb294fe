import type { Client } from '@temporalio/client';
import { ErrorTypes, MetError } from '../common/errors';
import type { RunSpec } from '../config/runSpec';
import { parseRunSpec, runIdOf } from '../config/runSpec';
import { isJob, JOBS } from '../jobs';
import type { CollectInput } from '../workflows/collectCorpus';
import { loadRunRecord, newRunRecord, type RunRecord, type RunsAt, runStatus, saveRunRecord, startOrAttach } from './runs';

/** Launches (or attaches to) the collection run of a spec. The spec is recorded for `met resume`. */
export async function launchCollection(client: Client, dataDir: RunsAt, spec: RunSpec, taskQueue?: string): Promise<{ record: RunRecord; attached: boolean }> {
  const runId = runIdOf(spec);
  const input: CollectInput = { spec, runId };
  const record = newRunRecord({ job: 'collectCorpus', input }, runId, { taskQueue });
  await saveRunRecord(dataDir, record);
  const { attached } = await startOrAttach(client, record);
  return { record, attached };
}

/**
 * `met resume RUN --budget-usd N`: a collection run that stopped at its budget (or failed, or was
 * cancelled) continues under a new budget. The run id stays (the budget is not part of it), so the
 * run re-plans from its shards and redoes only the units that are missing: nothing twice.
 */
export async function resumeCollection(
  client: Client,
  at: RunsAt,
  runId: string,
  options: { budgetUsd?: number } = {},
): Promise<{ record: RunRecord; attached: boolean }> {
  let record = await loadRunRecord(at, runId);
  if (options.budgetUsd !== undefined) {
    if (!isJob(record, 'collectCorpus'))
      throw new MetError(ErrorTypes.BadInput, `run '${runId}' is a ${JOBS[record.job].title} run: only collection runs have a budget`);
    if ((await runStatus(client, record)).status === 'RUNNING') {
      throw new MetError(
        ErrorTypes.BadInput,
        `run '${runId}' is still running: raise its budget once it has stopped (it stops at its budget; or met cancel ${runId})`,
      );
    }
    const { input } = record;
    const spec = parseRunSpec({ ...input.spec, budget: { usd: options.budgetUsd } }, `run '${runId}' with --budget-usd ${options.budgetUsd}`);
    record = { ...record, input: { spec, runId: input.runId } satisfies CollectInput };
    await saveRunRecord(at, record);
  }
  const { attached } = await startOrAttach(client, record);
  return { record, attached };
}
