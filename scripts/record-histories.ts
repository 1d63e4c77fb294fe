// Records the histories test/replay/replay.test.ts replays: `npx tsx scripts/record-histories.ts [NAME...]`.
// Runs every case of test/replay/cases.ts (or the named ones) once against a real Temporal dev
// server (MET_TEST_TEMPORAL_ADDRESS, else a private one it starts and stops), on workers whose
// activities are small stand-ins, and writes test/replay/histories/<name>.json. Record again only
// after a deliberate workflow change that runs in flight need not survive (docs/development.md: "Changing a
// workflow with runs in flight").

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { historyToJson } from '../test/replay/historyJson';
import { PROJECT_ROOT } from '../temporal/binary';
import { REPLAY_CASES, REPLAY_QUEUES, workflowOf } from '../test/replay/cases';
import { cpuActivities, sampling, scoring } from '../test/replay/standIns';
import { startTestTemporal } from '../test/helpers/temporal';

export const HISTORIES_DIR = join(PROJECT_ROOT, 'test', 'replay', 'histories');

async function main(names: string[]): Promise<void> {
  const cases = REPLAY_CASES.filter((c) => names.length === 0 || names.includes(c.name));
  if (cases.length === 0) throw new Error(`no replay case named ${names.join(' ')}`);
  const temporal = await startTestTemporal();
  try {
    mkdirSync(HISTORIES_DIR, { recursive: true });
    for (const c of cases) {
      const workers: Worker[] = await Promise.all([
        temporal.createWorker({ taskQueue: REPLAY_QUEUES.cpu, activities: cpuActivities() }),
        temporal.createWorker({ taskQueue: REPLAY_QUEUES.provider, activities: sampling }),
        temporal.createWorker({ taskQueue: REPLAY_QUEUES.model, activities: { ...sampling, ...scoring } }),
        temporal.createWorker({ taskQueue: REPLAY_QUEUES.model2, activities: scoring }),
      ]);
      const workflowId = `replay-${c.name}`;
      const handle = await temporal.client.workflow.start(workflowOf(c), {
        taskQueue: REPLAY_QUEUES.cpu,
        workflowId,
        args: c.args,
        workflowIdConflictPolicy: 'TERMINATE_EXISTING',
      });
      const run = async () => {
        try {
          await handle.result();
          return 'completed';
        } catch (err) {
          if (err instanceof WorkflowFailedError) return 'failed';
          throw err;
        } finally {
          for (const w of workers) w.shutdown();
        }
      };
      const [ended] = await Promise.all([run(), ...workers.map((w) => w.run())]);
      if (ended !== c.expect) throw new Error(`${c.name}: the run ${ended}, expected ${c.expect}`);
      const history = await handle.fetchHistory();
      const file = join(HISTORIES_DIR, `${c.name}.json`);
      writeFileSync(file, JSON.stringify(historyToJson(history), null, 1) + '\n');
      console.log(`${c.name}: ${ended}, ${history.events?.length} events -> ${file}`);
    }
  } finally {
    await temporal.close();
  }
}

await main(process.argv.slice(2));
