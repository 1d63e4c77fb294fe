import type { Client } from '@temporalio/client';
import type { RunSpec } from '../config/runSpec';
import { runIdOf } from '../config/runSpec';
import { type CollectInput, type CollectProgress, progressQuery } from '../workflows/collectCorpus';
import { newRunRecord, type RunRecord, type RunsAt, saveRunRecord, startOrAttach } from './runs';

/** Launches (or attaches to) the collection run of a spec. The spec is recorded for `met resume`. */
export async function launchCollection(client: Client, dataDir: RunsAt, spec: RunSpec, taskQueue?: string): Promise<{ record: RunRecord; attached: boolean }> {
  const runId = runIdOf(spec);
  const input: CollectInput = { spec, runId };
  const record = newRunRecord('collectCorpus', runId, input, { corpus: spec.corpus, taskQueue });
  await saveRunRecord(dataDir, record);
  const { attached } = await startOrAttach(client, record);
  return { record, attached };
}

export async function collectionProgress(client: Client, record: RunRecord): Promise<CollectProgress | undefined> {
  try {
    return await client.workflow.getHandle(record.workflowId).query(progressQuery);
  } catch {
    return undefined; // Closed runs (or no worker yet) answer no queries.
  }
}
