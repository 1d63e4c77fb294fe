import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { WorkflowFailedError } from '@temporalio/client';
import { parseRunSpec, runIdOf, type RunSpecInput } from '../../config/runSpec';
import { quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-collect-', (env) => ({ temporal, duck } = env));
const servers: RunningServe[] = [];

after(async () => {
  for (const s of servers) await s.close();
});

async function countRows(corpus: string) {
  return withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT count(*)::BIGINT AS n, count(DISTINCT (model, source, prompt_id, sample_index))::BIGINT AS keys FROM read_parquet(${quotedString(join(kindDir(dataDir, corpus, 'samples'), '*', '*', 'part-*.parquet'))}, hive_partitioning = true)`,
    );
    const row = r.getRowObjects()[0];
    return { rows: Number(row.n), keys: Number(row.keys) };
  });
}

/** Runs a spec to completion on in-process workers: the CPU queue and the provider's queue. */
let lastHandle: { fetchHistory(): Promise<unknown> } | undefined;
async function collect(specInput: RunSpecInput, providers: Parameters<typeof providerWorkerPlans>[0]['providers'], env: Record<string, string> = {}) {
  const spec = parseRunSpec(specInput);
  const taskQueue = uniqueName('collect-cpu');
  const plans = [cpuWorkerPlan({ dataDir, duck, taskQueue }), ...providerWorkerPlans({ dataDir, duck, providers, env })];
  const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
  const handle = await temporal.client.workflow.start(collectCorpus, { taskQueue, workflowId: uniqueName('collect'), args: [{ spec, runId: runIdOf(spec) }] });
  lastHandle = handle;
  const run = async () => {
    try {
      return await handle.result();
    } finally {
      workers.forEach((w) => w.shutdown());
    }
  };
  // Wait for the workers to stop even when the run fails, so the connection can close.
  const [outcome] = await Promise.allSettled([run(), ...workers.map((w) => w.run())]);
  if (outcome.status === 'rejected') throw outcome.reason;
  return { result: outcome.value, handle };
}

test(
  // 5,000 samples (20,000 until 2026-12-06): every fault kind still fires dozens to hundreds of times;
  // scale itself is bench/collect/million.ts's (1,000,000 samples, exactly-once counted the same way).
  'a 5,000-sample run against a faulty provider ends with exactly the requested rows, none duplicated, under the rate limit',
  { timeout: 240_000 },
  async () => {
    const serve = await startServe({
      backend: new TextGeneratorBackend(),
      faults: { fail429: 0.1, retryAfter: 0.2, fail500: 0.03, hang: 0.01, malformed: 0.01, rps: 3000 },
      seed: 7,
    });
    servers.push(serve);
    const provider = uniqueName('faulty');
    const { result } = await collect(
      {
        corpus: 'faulty',
        prompts: { set: 'demo' },
        samplesPerPrompt: 125,
        sampling: { maxTokens: 16, temperature: 1 },
        sources: [{ kind: 'provider', provider, model: 'm1', baseURL: serve.url, concurrency: 32, requestsPerMinute: 2000 * 60 }],
        unitSize: 250,
        window: 4,
      },
      [{ name: provider, concurrentUnits: 4, timeoutMs: 1500, allowSpecBaseURL: true }],
    );
    const stats = serve.stats();
    assert.equal(result.rows, 5_000);
    assert.deepEqual(await countRows('faulty'), { rows: 5_000, keys: 5_000 });
    assert.ok(stats.faults.rate_limited > 100 && stats.faults.server_error > 20 && stats.faults.hang > 0 && stats.faults.malformed > 0, JSON.stringify(stats));
    assert.equal(stats.faults.rps_limited, 0, 'the client-side limit kept every request under the server limit');
    assert.ok(stats.maxAcceptedPerSecond <= 3000);
  },
);

test('a 401 fails fast, naming the provider and the env var, and the key appears nowhere', { timeout: 60_000 }, async () => {
  const canary = 'sk-canary-0123456789abcdef';
  const serve = await startServe({ backend: new TextGeneratorBackend(), faults: { requireKey: 'the-right-key' } });
  servers.push(serve);
  const provider = uniqueName('authfail');
  await assert.rejects(
    collect(
      {
        corpus: 'auth',
        prompts: { set: 'demo', limit: 2 },
        samplesPerPrompt: 3,
        sources: [{ kind: 'provider', provider, model: 'm1' }],
      },
      [{ name: provider, baseURL: serve.url, apiKeyEnv: 'MET_TEST_CANARY_KEY', concurrentUnits: 1, timeoutMs: 2000 }],
      { MET_TEST_CANARY_KEY: canary },
    ).then(() => undefined),
    (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      const message = String(err.cause?.message);
      assert.match(message, new RegExp(`${provider} rejected the API key`));
      assert.match(message, /MET_TEST_CANARY_KEY/);
      assert.ok(!JSON.stringify(err).includes(canary));
      return true;
    },
  );
  // Nowhere else either: not in the exported workflow history, not in any file of the data folder.
  const history = JSON.stringify(await lastHandle!.fetchHistory());
  assert.ok(history.includes('MET_TEST_CANARY_KEY') && !history.includes(canary), 'the history names the variable, never the key');
  const { spawnSync } = await import('node:child_process');
  const grep = spawnSync('grep', ['-rl', canary, dataDir], { encoding: 'utf8' });
  assert.equal(grep.status, 1, `grep found the key in: ${grep.stdout}`);
});
