import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { CellSummary } from '../../activities/power';
import { PowerSpec } from '../../config/powerSpec';
import { kindDir } from '../../datasets';
import { powerSimulation, type PowerInput } from '../../workflows/powerSimulation';
import { cpuWorkerPlan } from '../../workers/cpu';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';
import { storedCells, writePowerCorpus } from './fixture';

/**
 * A power grid whose worker process is SIGKILLed mid-grid: a restarted worker finishes it, every
 * cell is one shard (computed once: shards written before the kill are not rewritten) and the
 * results equal an uninterrupted run with the same seed, simulation by simulation.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-power-kill-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    await writePowerCorpus(duck, dataDir, 'kill', [
      ['reference', 0],
      ['weak', 0.3],
      ['strong', 1.2],
    ]);
  },
});

const spec = PowerSpec.parse({
  corpus: 'kill',
  reference: { model: 'toy', source: 'reference' },
  alternatives: [
    { model: 'toy', source: 'weak' },
    { model: 'toy', source: 'strong' },
  ],
  samplesPerPrompt: [4, 8, 16],
  promptSubsets: { size: 8, draws: 2 },
  sims: 100,
  b: 300,
  L: 120,
  seed: 9,
  // One cell at a time, so the kill lands mid-grid.
  window: 1,
});
// 2 n x 3 draws x (reference, two alternatives, the independent-pool control).
const CELLS = 2 * 3 * 4;
/** PendingActivityState STARTED in Temporal's API: a worker has picked the activity up. */
const RUNNING = 2;

/** The run's cell shard files (one per cell when each is written once). */
function shardFiles(runId: string): string[] {
  const dir = kindDir(dataDir, 'kill', 'power');
  try {
    return readdirSync(dir).filter((f) => f.startsWith(`part-${runId}.`) && f.endsWith('.parquet'));
  } catch {
    return [];
  }
}

test('a worker SIGKILLed mid-grid: after a restart every cell is computed once and equals an uninterrupted run', { timeout: 240_000 }, async (t) => {
  // The uninterrupted run, in this process.
  const queue0 = uniqueName('power-base');
  const worker0 = await temporal.createWorker({ taskQueue: queue0, activities: cpuWorkerPlan({ dataDir, duck, taskQueue: queue0 }).activities });
  const baseline = await worker0.runUntil(
    temporal.client.workflow.execute(powerSimulation, { taskQueue: queue0, workflowId: uniqueName('power-base'), args: [{ spec, runId: 'uninterrupted' }] }),
  );
  assert.equal(baseline.length, CELLS);

  // The same grid on a worker process that is killed once a few cells are stored.
  const taskQueue = uniqueName('power-kill');
  const workerArgs = ['worker', '--queue', taskQueue, '--address', temporal.address, '--data', dataDir];
  const worker1 = spawnMet(workerArgs);
  const input: PowerInput = { spec, runId: 'killed', heartbeatTimeoutSeconds: 5 };
  const handle = await temporal.client.workflow.start(powerSimulation, { taskQueue, workflowId: uniqueName('power-kill'), args: [input] });
  let storedAtDetection = 0;
  try {
    // Kill while a cell is running on the worker (not between two cells), after a few are stored.
    await waitUntil(
      'three cells of the grid to be stored and the next one running',
      async () => {
        storedAtDetection = shardFiles('killed').length;
        return storedAtDetection >= 3 && ((await handle.describe()).raw.pendingActivities ?? []).some((a) => Number(a.state) === RUNNING);
      },
      120_000,
    );
  } catch (err) {
    worker1.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${worker1.output()}`);
  }
  worker1.kill('SIGKILL');
  assert.equal(await exited(worker1), 'SIGKILL');
  const beforeKill = new Map(shardFiles('killed').map((f) => [f, statSync(join(kindDir(dataDir, 'kill', 'power'), f)).mtimeMs]));
  assert.ok(beforeKill.size < CELLS, `the kill came after the grid finished (${beforeKill.size} of ${CELLS} cells stored)`);

  const worker2 = spawnMet(workerArgs);
  let cells: CellSummary[];
  try {
    cells = await handle.result();
  } finally {
    worker2.kill('SIGTERM');
    assert.equal(await exited(worker2), 0, `worker 2 shuts down cleanly:\n${worker2.output()}`);
  }
  const history = await handle.fetchHistory();
  // The cell that was running on the killed worker completed on a later attempt (after its heartbeat timed out).
  const retried = (history.events ?? []).filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).length;
  // Unless the running cell managed to store its shard between the check and the kill (a race the
  // test cannot close), the kill interrupted it and a later attempt computed it.
  if (beforeKill.size === storedAtDetection) assert.ok(retried >= 1, 'the interrupted cell was retried');
  t.diagnostic(`${beforeKill.size} of ${CELLS} cells stored at the kill; ${retried} activity retried on the restarted worker`);

  // Exactly once: one shard and one row per cell; the shards stored before the kill were not rewritten.
  assert.equal(cells.length, CELLS);
  const files = shardFiles('killed');
  assert.equal(files.length, CELLS);
  for (const [file, mtime] of beforeKill) assert.equal(statSync(join(kindDir(dataDir, 'kill', 'power'), file)).mtimeMs, mtime, `${file} was rewritten`);
  const killed = await storedCells(duck, dataDir, 'kill', 'killed');
  assert.equal(killed.length, CELLS);
  assert.equal(new Set(killed.map((c) => c.cellId)).size, CELLS, 'no cell stored twice');

  // Equal to the uninterrupted run: rejections, and every simulation's seed, statistic and p-value.
  assert.deepEqual(killed, await storedCells(duck, dataDir, 'kill', 'uninterrupted'));
  assert.deepEqual(
    cells.map((c) => [c.cellId, c.rejections, c.sims]),
    baseline.map((c) => [c.cellId, c.rejections, c.sims]),
  );
});
