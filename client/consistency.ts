import type { Client } from '@temporalio/client';
import { planConsistency, type ConsistencySpec } from '../config/consistencySpec';
import { newRunRecord, type RunRecord, type RunsAt, saveRunRecord, startOrAttach } from './runs';

/** Launches (or attaches to) the consistency run of a spec; the plan is recorded for `met resume`. */
export async function launchConsistency(client: Client, dataDir: RunsAt, spec: ConsistencySpec, taskQueue?: string): Promise<{ record: RunRecord; attached: boolean }> {
  const plan = planConsistency(spec);
  const record = newRunRecord({ job: 'consistencyReport', input: plan }, plan.id, { taskQueue });
  await saveRunRecord(dataDir, record);
  const { attached } = await startOrAttach(client, record);
  return { record, attached };
}
