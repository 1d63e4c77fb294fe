/**
 * `met collect --dry-run --pilot N` against `met serve`: the estimate it prints is within 10% of
 * the cost computed afterwards from the usage the run recorded, and the upper bound is above it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { SourceEstimate } from '../../collect/estimate';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { createDuckDB, quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { loadLlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { exited, spawnMet } from '../helpers/processes';
import { startTestTemporal, uniqueName, withPlanWorkers, type TestTemporal } from '../helpers/temporal';

let temporal: TestTemporal;
let duck: DuckDBInstance;
let serve: RunningServe;
const dir = mkdtempSync(join(tmpdir(), 'met-pilot-'));
const dataDir = join(dir, 'data');
// The data folder exists before the CLI names it (a client command refuses a missing --data).
mkdirSync(dataDir, { recursive: true });

before(async () => {
  temporal = await startTestTemporal();
  duck = await createDuckDB();
  serve = await startServe({ backend: new TextGeneratorBackend(), seed: 11 });
});
after(async () => {
  await serve?.close();
  await temporal?.close();
  duck?.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

test('the dry run estimate from a 100-request pilot (5% of the run) is within 10% of the cost the run recorded', { timeout: 120_000 }, async () => {
  const provider = uniqueName('pilot');
  const prices = { inputPerMillion: 0.5, outputPerMillion: 2 };
  const spec = parseRunSpec({
    corpus: uniqueName('pilot'),
    prompts: { set: 'demo' },
    samplesPerPrompt: 50,
    unitSize: 500,
    sampling: { maxTokens: 32, temperature: 1 },
    // A fixed source label: the seeds (and so met serve's completions) are the same at every run of
    // this test. The estimate's standard error here is about 3% of the cost, so 10% is 3 of them.
    sources: [{ kind: 'provider', provider, model: 'm1', source: 'stand-in' }],
  });
  const specFile = join(dir, 'spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const workersFile = join(dir, 'workers.json');
  const providers = [{ name: provider, baseURL: serve.url, prices, concurrentUnits: 2, timeoutMs: 10_000 }];
  writeFileSync(workersFile, JSON.stringify({ providers }));

  const child = spawnMet([
    'collect',
    specFile,
    '--dry-run',
    '--pilot',
    '100',
    '--json',
    '--config',
    workersFile,
    '--data',
    dataDir,
    '--address',
    '127.0.0.1:9',
  ]);
  assert.equal(await exited(child), 0, child.output());
  const out = child.output();
  const plan = JSON.parse(out.slice(out.indexOf('{'))) as { sources: SourceEstimate[]; totalEstimate: number; totalMaxCost: number };
  const estimate = plan.sources[0].estimate!;
  assert.equal(estimate.pilot.requests, 100);
  assert.equal(serve.stats().served, 100, 'the pilot sent its 100 requests, and nothing else was sent');

  const taskQueue = uniqueName('pilot-cpu');
  const result = await withPlanWorkers(
    temporal,
    [cpuWorkerPlan({ dataDir, duck, taskQueue }), ...providerWorkerPlans({ dataDir, duck, providers, env: {} })],
    () => temporal.client.workflow.execute(collectCorpus, { taskQueue, workflowId: uniqueName('pilot'), args: [{ spec, runId: runIdOf(spec) }] }),
  );
  const actual = await withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT sum(prompt_tokens)::DOUBLE AS p, sum(completion_tokens)::DOUBLE AS c, count(prompt_tokens)::BIGINT AS reported FROM read_parquet(${quotedString(join(kindDir(dataDir, spec.corpus, 'samples'), '*', '*', 'part-*.parquet'))}, hive_partitioning = true)`,
    );
    const row = r.getRowObjects()[0];
    assert.equal(Number(row.reported), result.rows, 'every row has its usage');
    return {
      promptTokens: Number(row.p),
      completionTokens: Number(row.c),
      usd: (Number(row.p) * prices.inputPerMillion + Number(row.c) * prices.outputPerMillion) / 1e6,
    };
  });
  const error = (estimate.cost! - actual.usd) / actual.usd;
  console.log(
    `pilot estimate $${estimate.cost!.toFixed(6)} (95% ${estimate.costLow!.toFixed(6)}-${estimate.costHigh!.toFixed(6)}), actual $${actual.usd.toFixed(6)} (${(100 * error).toFixed(1)}%), upper bound $${plan.totalMaxCost.toFixed(6)}; ` +
      `prompt tokens ${estimate.promptTokens} vs ${actual.promptTokens}, completion tokens ${estimate.completionTokens} vs ${actual.completionTokens}`,
  );
  assert.ok(Math.abs(error) <= 0.1, `estimate ${estimate.cost} vs actual ${actual.usd}: ${(100 * error).toFixed(1)}% off`);
  assert.ok(plan.totalMaxCost >= actual.usd, 'the upper bound is one');
  assert.ok(Math.abs((estimate.promptTokens - actual.promptTokens) / actual.promptTokens) <= 0.1, 'prompt tokens within 10%');
  assert.equal(estimate.promptTokensFrom, 'pilot', 'the stand-in generator has no tokenizer route');
});

test(
  "with a tokenizer at the endpoint (met serve with a GGUF: vLLM's /tokenize) the dry run's prompt tokens are exactly what the run is billed",
  { timeout: 120_000 },
  async () => {
    const modelDir = join(dir, 'models');
    const paths = writeTinyModels(modelDir);
    const backend = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32' });
    const gguf = await startServe({ backend, seed: 1 });
    try {
      const provider = uniqueName('gguf');
      const prices = { inputPerMillion: 1, outputPerMillion: 1 };
      const spec = parseRunSpec({
        corpus: uniqueName('tokenized'),
        prompts: { set: 'demo', limit: 8 },
        samplesPerPrompt: 5,
        unitSize: 20,
        sampling: { maxTokens: 8, temperature: 1 },
        sources: [{ kind: 'provider', provider, model: 'tiny', source: 'gguf' }],
      });
      const specFile = join(dir, 'spec-gguf.json');
      writeFileSync(specFile, JSON.stringify(spec));
      const workersFile = join(dir, 'workers-gguf.json');
      const providers = [{ name: provider, baseURL: gguf.url, prices, concurrentUnits: 2, timeoutMs: 30_000 }];
      writeFileSync(workersFile, JSON.stringify({ providers }));
      const child = spawnMet([
        'collect',
        specFile,
        '--dry-run',
        '--pilot',
        '4',
        '--json',
        '--config',
        workersFile,
        '--data',
        dataDir,
        '--address',
        '127.0.0.1:9',
      ]);
      assert.equal(await exited(child), 0, child.output());
      const out = child.output();
      const estimate = (JSON.parse(out.slice(out.indexOf('{'))) as { sources: SourceEstimate[] }).sources[0].estimate!;
      assert.equal(estimate.promptTokensFrom, 'tokenizer');

      const taskQueue = uniqueName('gguf-cpu');
      await withPlanWorkers(temporal, [cpuWorkerPlan({ dataDir, duck, taskQueue }), ...providerWorkerPlans({ dataDir, duck, providers, env: {} })], () =>
        temporal.client.workflow.execute(collectCorpus, { taskQueue, workflowId: uniqueName('gguf'), args: [{ spec, runId: runIdOf(spec) }] }),
      );
      const billed = await withConnection(duck, async (c) => {
        const r = await c.runAndReadAll(
          `SELECT sum(prompt_tokens)::BIGINT AS p FROM read_parquet(${quotedString(join(kindDir(dataDir, spec.corpus, 'samples'), '*', '*', 'part-*.parquet'))}, hive_partitioning = true)`,
        );
        return Number(r.getRowObjects()[0].p);
      });
      assert.equal(estimate.promptTokens, billed, 'counted, not estimated');
    } finally {
      await gguf.close();
      await backend.close();
    }
  },
);
