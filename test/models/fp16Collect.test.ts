import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { kindDir, quotedString, withConnection } from '../../datasets';
import { loadLlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { exited, spawnMet } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

/**
 * Sampling at F16 end to end: a run spec with a local source at fp16, collected by a pinned model
 * worker (`met worker --model tiny-F16.gguf --precision fp16`) through collectCorpus. The stored logprobs are the
 * F16 model's (teacher-forced F16 scoring of the stored tokens gives them back) and not F32's.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-fp16-', (env) => ({ temporal, duck } = env));

test('a run spec with a local source at fp16 collects through a pinned F16 worker (met worker --model --precision fp16)', { timeout: 180_000 }, async () => {
  const models = writeTinyModels(join(dataDir, 'models'));
  const name = uniqueName('tiny-f16');
  const worker = spawnMet(['worker', '--model', models.fp16, '--precision', 'fp16', '--name', name, '--address', temporal.address, '--data', dataDir]);
  const cpuQueue = uniqueName('fp16-cpu');
  const plan = cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue });
  const cpu = await temporal.createWorker({ taskQueue: plan.taskQueue, activities: plan.activities, ...plan.options });
  const cpuRunning = cpu.run();
  const f16 = await loadLlamaBackend({ path: models.fp16, precision: 'fp16' });
  const f32 = await loadLlamaBackend({ path: models.fp32, precision: 'fp32' });
  try {
    const spec = parseRunSpec({
      corpus: 'half',
      prompts: { set: 'demo', limit: 6 },
      samplesPerPrompt: 8,
      sampling: { maxTokens: 12, logprobs: true },
      sources: [{ kind: 'local', model: name, precision: 'fp16' }],
      unitSize: 16,
    });
    const collected = await temporal.client.workflow.execute(collectCorpus, {
      taskQueue: cpuQueue,
      workflowId: uniqueName('collect'),
      args: [{ spec, runId: runIdOf(spec) }],
    });
    assert.equal(collected.rows, 48, worker.output());

    const samples = join(kindDir(dataDir, 'half', 'samples'), '*', '*', 'part-*.parquet');
    const rows = await withConnection(duck, async (c) =>
      (
        await c.runAndReadAll(
          `SELECT model, source, prompt_id, sample_index, prompt, token_ids, token_logprobs FROM read_parquet(${quotedString(samples)}, hive_partitioning = true) ORDER BY prompt_id, sample_index`,
        )
      ).getRowObjects(),
    );
    assert.equal(rows.length, 48);
    assert.equal(new Set(rows.map((r) => `${r.prompt_id}/${r.sample_index}`)).size, 48, 'one row per (prompt, sample)');
    assert.ok(
      rows.every((r) => r.model === name && r.source === 'fp16'),
      'partitioned under the fp16 source',
    );

    let worstF16 = 0;
    let meanF16 = 0;
    let meanF32 = 0;
    let tokens = 0;
    for (const r of rows) {
      const ids = (r.token_ids as { items: number[] }).items.map(Number);
      const stored = (r.token_logprobs as { items: number[] }).items.map(Number);
      assert.equal(stored.length, ids.length);
      const underF16 = await f16.scoreTokens(String(r.prompt), ids);
      const underF32 = await f32.scoreTokens(String(r.prompt), ids);
      ids.forEach((_, i) => {
        worstF16 = Math.max(worstF16, Math.abs(underF16[i] - stored[i]));
        meanF16 += Math.abs(underF16[i] - stored[i]);
        meanF32 += Math.abs(underF32[i] - stored[i]);
      });
      tokens += ids.length;
    }
    meanF16 /= tokens;
    meanF32 /= tokens;
    assert.ok(tokens > 100, `${tokens} tokens sampled`);
    // Incremental sampling and one-pass scoring run different llama.cpp batches: F16 rounding differs a little.
    assert.ok(worstF16 < 2e-3, `stored logprobs are the F16 model's (worst |delta| ${worstF16})`);
    assert.ok(meanF32 > 3 * meanF16, `and not F32's (mean |delta| under F16 ${meanF16}, under F32 ${meanF32})`);
  } finally {
    worker.kill('SIGTERM');
    await exited(worker);
    cpu.shutdown();
    await cpuRunning;
    await f16.close();
    await f32.close();
  }
});
