import type { Client } from '@temporalio/client';
import { canonicalJson, hashHex } from '../common/hash';
import type { PowerSpec } from '../config/powerSpec';
import type { PowerInput } from '../workflows/powerSimulation';
import { newRunRecord, type RunRecord, type RunsAt, saveRunRecord, startOrAttach } from './runs';

/** Launches (or attaches to) a power grid; recorded for `met resume` and `met report`. */
export async function launchPower(client: Client, dataDir: RunsAt, spec: PowerSpec, taskQueue?: string): Promise<{ record: RunRecord; attached: boolean }> {
  const { runId: explicit, ...rest } = spec;
  const runId = explicit ?? `power-${spec.corpus}-${hashHex(canonicalJson(rest)).slice(0, 10)}`;
  const input: PowerInput = { spec, runId };
  const record = newRunRecord({ job: 'powerSimulation', input }, runId, { taskQueue });
  await saveRunRecord(dataDir, record);
  return { record, attached: (await startOrAttach(client, record)).attached };
}
