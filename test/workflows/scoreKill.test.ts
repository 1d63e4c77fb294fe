import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { stringify } from 'yaml';
import { kindDir, quotedString, withConnection } from '../../datasets';
import { writeShard } from '../../datasets/shards';
import { syntheticSamples } from '../../datasets/synthetic';
import { writeTinyModels } from '../../models/tiny';
import { scoreCorpus } from '../../workflows/scoreCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

/**
 * Exactly-once scoring across a SIGKILL: the scoring worker (`met worker --config`, a child
 * process with the tiny model) is killed while a shard is half scored; a new worker resumes it
 * from the shard's journal. Every sample ends with exactly one logprob row.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-score-kill-', (env) => ({ temporal, duck } = env));

/** Lines in the journals of half-scored shards, and the committed logprob shards. */
function scoringState(): { journalLines: number; shards: number } {
  const root = kindDir(dataDir, 'killed', 'logprobs');
  let journalLines = 0;
  let shards = 0;
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.startsWith('.journal-')) journalLines += readFileSync(join(d, e.name), 'utf8').split('\n').filter(Boolean).length;
      else if (e.name.endsWith('.parquet')) shards++;
    }
  };
  walk(root);
  return { journalLines, shards };
}

test('SIGKILL of the scoring worker mid-shard: scoreCorpus finishes with every sample scored exactly once', { timeout: 240_000 }, async () => {
  const models = writeTinyModels(join(dataDir, 'models'));
  // Two sample shards of 240 completions (as collection writes them).
  for (let half = 0; half < 2; half++) {
    const unitId = `unit-${half}`;
    const rows = syntheticSamples({
      corpus: 'killed',
      unitId,
      model: 'm',
      source: 'fp16',
      prompts: 12,
      firstPrompt: half * 12,
      samplesPerPrompt: 20,
      seed: half + 1,
      completionChars: 100,
      tokens: 10,
    });
    await writeShard(duck, dataDir, { corpus: 'killed', kind: 'samples', partition: { model: 'm', source: 'fp16' }, unitId }, rows);
  }
  const scorer = uniqueName('tiny-kill');
  const configFile = join(dataDir, 'workers.yaml');
  writeFileSync(configFile, stringify({ models: [{ name: scorer, precision: 'fp32', path: models.fp32 }] }));
  const workerArgs = ['worker', '--config', configFile, '--address', temporal.address, '--data', dataDir];

  const cpuQueue = uniqueName('kill-cpu');
  const plan = cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue });
  const cpu = await temporal.createWorker({ taskQueue: plan.taskQueue, activities: plan.activities, ...plan.options });
  const cpuRunning = cpu.run();
  let worker = spawnMet(workerArgs);
  try {
    const workflowId = uniqueName('score-kill');
    const handle = await temporal.client.workflow.start(scoreCorpus, {
      taskQueue: cpuQueue,
      workflowId,
      args: [{ corpus: 'killed', scorer: { model: scorer, precision: 'fp32' }, window: 1, heartbeatTimeout: '3s' }],
    });
    // Mid-shard: some scores journaled, the first shard not yet committed.
    await waitUntil('the first journaled scores', () => scoringState().journalLines > 0, 90_000).catch((err) => {
      throw new Error(`${(err as Error).message}\nworker output:\n${worker.output()}`);
    });
    const atKill = scoringState();
    worker.kill('SIGKILL');
    assert.equal(await exited(worker), 'SIGKILL');
    assert.equal(atKill.shards, 0, 'killed before the first shard was committed');
    assert.ok(atKill.journalLines < 240, `killed mid-shard (${atKill.journalLines} of 240 journaled)`);

    worker = spawnMet(workerArgs);
    const result = await handle.result();
    assert.deepEqual({ shards: result.shardsDone, rows: result.rowsDone }, { shards: 2, rows: 480 });

    // The retried attempt resumed from the journal rather than starting over.
    const history = await handle.fetchHistory();
    const resumed = (history.events ?? [])
      .map((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data)
      .filter((d): d is Uint8Array => !!d)
      .map((d) => JSON.parse(Buffer.from(d).toString('utf8')) as { resumedFrom?: number })
      .filter((r) => (r.resumedFrom ?? 0) > 0);
    assert.equal(resumed.length, 1, 'one shard resumed from its journal');
    assert.ok(resumed[0].resumedFrom! >= atKill.journalLines);

    const logprobs = join(kindDir(dataDir, 'killed', 'logprobs'), '*', '*', '*', 'part-*.parquet');
    const [counts] = await withConnection(duck, async (c) =>
      (
        await c.runAndReadAll(
          `SELECT count(*)::INT AS n, count(DISTINCT (model, source, prompt_id, sample_index))::INT AS k, count(*) FILTER (WHERE count = 0)::INT AS empty
             FROM read_parquet(${quotedString(logprobs)}, hive_partitioning = true)`,
        )
      ).getRowObjects(),
    );
    assert.deepEqual({ ...counts }, { n: 480, k: 480, empty: 0 }, 'no duplicate, no missing, no empty rows');
    assert.equal(scoringState().journalLines, 0, 'journals removed once their shard is committed');
  } finally {
    worker.kill('SIGTERM');
    await exited(worker);
    cpu.shutdown();
    await cpuRunning;
  }
});
