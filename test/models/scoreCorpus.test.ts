import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { kindDir, quotedString, withConnection } from '../../datasets';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { collectCorpus } from '../../workflows/collectCorpus';
import { scoreCorpus } from '../../workflows/scoreCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { uniqueName, withPlanWorkers, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-score-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    const paths = writeTinyModels(join(dataDir, 'models'));
    // The model name must be unique per test run: model queues are shared on the test server.
    backend = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model: uniqueName('tiny') });
  },
});
let backend: LlamaBackend;

after(async () => {
  await backend?.close();
});

async function withWorkers<T>(fn: (cpuQueue: string) => Promise<T>): Promise<T> {
  const cpuQueue = uniqueName('score-cpu');
  const plans = [cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue }), ...modelWorkerPlans({ dataDir, duck, backend, gpu: 'cpu' })];
  return withPlanWorkers(temporal, plans, () => fn(cpuQueue));
}

const sums = (sql: string) => withConnection(duck, async (c) => (await c.runAndReadAll(sql)).getRowObjects());

test('local sampling through collectCorpus, then scoreCorpus: one logprob row per sample, equal to the sampler logprobs', { timeout: 180_000 }, async () => {
  const spec = parseRunSpec({
    corpus: 'scored',
    prompts: { set: 'demo', limit: 6 },
    samplesPerPrompt: 10,
    sampling: { maxTokens: 12, logprobs: true },
    sources: [{ kind: 'local', model: backend.model, precision: 'fp32' }],
    unitSize: 20,
  });
  await withWorkers(async (taskQueue) => {
    const collected = await temporal.client.workflow.execute(collectCorpus, {
      taskQueue,
      workflowId: uniqueName('collect'),
      args: [{ spec, runId: runIdOf(spec) }],
    });
    assert.equal(collected.rows, 60);
    const input = { corpus: 'scored', scorer: { model: backend.model, precision: 'fp32' }, window: 2 };
    const first = await temporal.client.workflow.execute(scoreCorpus, { taskQueue, workflowId: uniqueName('score'), args: [input] });
    assert.equal(first.rowsDone, 60);

    // Lose one logprob shard (a crash before its commit): rescoring redoes only that one.
    const dir = join(kindDir(dataDir, 'scored', 'logprobs'), readdirSync(kindDir(dataDir, 'scored', 'logprobs'))[0]);
    const leaf = (d: string): string => (readdirSync(d).some((f) => f.endsWith('.parquet')) ? d : leaf(join(d, readdirSync(d)[0])));
    const shardDir = leaf(dir);
    rmSync(
      join(
        shardDir,
        readdirSync(shardDir).find((f) => f.endsWith('.parquet'))!,
      ),
    );
    writeFileSync(join(shardDir, '.journal-stale.jsonl'), '{"torn":'); // a stale partial journal is ignored
    const second = await temporal.client.workflow.execute(scoreCorpus, { taskQueue, workflowId: uniqueName('score'), args: [input] });
    assert.equal(second.rowsDone, 60);
  });
  const samples = join(kindDir(dataDir, 'scored', 'samples'), '*', '*', 'part-*.parquet');
  const logprobs = join(kindDir(dataDir, 'scored', 'logprobs'), '*', '*', '*', 'part-*.parquet');
  const [counts] = await sums(
    `SELECT count(*)::INT AS n, count(DISTINCT (prompt_id, sample_index))::INT AS k FROM read_parquet(${quotedString(logprobs)}, hive_partitioning = true)`,
  );
  assert.deepEqual({ n: counts.n, k: counts.k }, { n: 60, k: 60 });
  const [diff] = await sums(
    `SELECT max(abs(s.total - l.sum))::DOUBLE AS worst, count(*)::INT AS compared FROM
       (SELECT prompt_id, sample_index, list_sum(token_logprobs) AS total, token_ids FROM read_parquet(${quotedString(samples)}, hive_partitioning = true)) s
       JOIN read_parquet(${quotedString(logprobs)}, hive_partitioning = true) l USING (prompt_id, sample_index)
     WHERE s.token_ids = l.token_ids`,
  );
  assert.ok(Number(diff.compared) >= 30, `at least half the completions retokenize to the sampled tokens (${diff.compared})`);
  assert.ok(Number(diff.worst) < 1e-3, `summed logprobs differ by ${diff.worst}`);
  // Every row stores a 1-based rank per token (the rank-based uniformity test's log_rank score).
  const [ranks] = await sums(
    `SELECT count(*)::INT AS bad FROM read_parquet(${quotedString(logprobs)}, hive_partitioning = true)
     WHERE token_ranks IS NULL OR len(token_ranks) != count OR list_min(token_ranks) < 1`,
  );
  assert.equal(ranks.bad, 0);
});
