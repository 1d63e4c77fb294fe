/**
 * Sampler fidelity through the real stack (collectCorpus on real Temporal, in-process llama.cpp,
 * met serve as the provider): the spec's sampler settings reach local models and providers, extra
 * request fields reach the provider unchanged, every row records its sampler, and a test between
 * slices drawn with different samplers says so (or refuses).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { parseRunSpec, runIdOf, type RunSpecInput } from '../../config/runSpec';
import { TestSpec } from '../../config/testSpec';
import { kindDir, quotedString, withConnection } from '../../datasets';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { startServe, type RunningServe } from '../../serve/server';
import { collectCorpus } from '../../workflows/collectCorpus';
import { runTest } from '../../workflows/runTest';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, withPlanWorkers, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-sampler-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    const paths = writeTinyModels(join(dataDir, 'models'));
    backend = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model: uniqueName('tiny') });
    serve = await startServe({ backend, claimModel: backend.model });
  },
});
let backend: LlamaBackend;
let serve: RunningServe;
const provider = uniqueName('stand');

after(async () => {
  await serve?.close();
  await backend?.close();
});

async function withWorkers<T>(fn: (cpuQueue: string) => Promise<T>): Promise<T> {
  const cpuQueue = uniqueName('sampler-cpu');
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue }),
    ...modelWorkerPlans({ dataDir, duck, backend, gpu: 'cpu' }),
    ...providerWorkerPlans({ dataDir, duck, providers: [{ name: provider, baseURL: serve.url, concurrentUnits: 2, timeoutMs: 10_000 }], env: {} }),
  ];
  return withPlanWorkers(temporal, plans, () => fn(cpuQueue));
}

const rows = (sql: string) => withConnection(duck, async (c) => (await c.runAndReadAll(sql)).getRowObjects());
const samplesGlob = () => quotedString(join(kindDir(dataDir, 'samplers', 'samples'), '*', '*', 'part-*.parquet'));

test(
  'topK 1 gives identical greedy completions from two local sources; extraBody and sampler fields reach the provider; rows record their sampler',
  { timeout: 240_000 },
  async () => {
    const spec: RunSpecInput = {
      corpus: 'samplers',
      prompts: { set: 'demo', limit: 4 },
      samplesPerPrompt: 3,
      sampling: { maxTokens: 10, temperature: 1, topK: 1, minP: 0.02, presencePenalty: 0.5 },
      sources: [
        { kind: 'local', model: backend.model, precision: 'fp32', source: 'greedy-a' },
        { kind: 'local', model: backend.model, precision: 'fp32', source: 'greedy-b' },
        { kind: 'provider', provider, model: backend.model, extraBody: { mirostat: 0, met_probe: 'kept as sent' } },
      ],
    };
    await withWorkers(async (taskQueue) => {
      const parsed = parseRunSpec(spec);
      const result = await temporal.client.workflow.execute(collectCorpus, {
        taskQueue,
        workflowId: uniqueName('collect'),
        args: [{ spec: parsed, runId: runIdOf(parsed) }],
      });
      assert.equal(result.rows, 36);
    });
    const bySource = await rows(
      `SELECT source, list(completion ORDER BY prompt_id, sample_index) AS texts, list(DISTINCT sampler) AS samplers FROM read_parquet(${samplesGlob()}, hive_partitioning = true) GROUP BY source ORDER BY source`,
    );
    const of = (source: string) => bySource.find((r) => r.source === source)!;
    const a = of('greedy-a');
    const b = of('greedy-b');
    const texts = (r: Record<string, unknown>) => (r.texts as { items: string[] }).items;
    assert.equal(texts(a).length, 12);
    assert.deepEqual(texts(a), texts(b), 'greedy: the same completion whatever the seed and the source label');
    assert.ok(texts(a).every((t) => t.length > 0));
    // Greedy per prompt: the 3 samples of a prompt are one completion; different prompts differ.
    assert.equal(texts(a)[0], texts(a)[1]);
    assert.ok(new Set(texts(a)).size >= 2);
    const local = JSON.parse(String((of('greedy-a').samplers as { items: string[] }).items[0]));
    assert.deepEqual(local.settings, { temperature: 1, topP: 1, topK: 1, minP: 0.02, presencePenalty: 0.5, maxTokens: 10, stop: [], endpoint: 'completions' });
    assert.match(local.engine, /^llama\.cpp \(in-process; batch \d+, flash attention off, 1 sequence per decode\)$/, 'the engine names the decode route');
    assert.equal(local.ggufType, 'F32');
    const remote = JSON.parse(String((of(provider).samplers as { items: string[] }).items[0]));
    assert.deepEqual(remote.settings.extraBody, { mirostat: 0, met_probe: 'kept as sent' });
    assert.equal(remote.engine, `provider:${provider}`);
    assert.equal(remote.reported.model, backend.model);

    // Token usage as the provider reported it (met serve: its tokenizer's counts), per sample; local rows report none.
    const usage = await rows(`SELECT source, count(*)::INT AS n, count(prompt_tokens)::INT AS with_usage, min(prompt_tokens)::INT AS min_prompt,
      bool_and(completion_tokens = len(token_ids)) AS completion_is_ids, bool_and(completion_tokens <= 10) AS within_max
    FROM read_parquet(${samplesGlob()}, hive_partitioning = true) GROUP BY source ORDER BY source`);
    const usageOf = (source: string) => usage.find((r) => r.source === source)!;
    assert.deepEqual(usageOf(provider), {
      source: provider,
      n: 12,
      with_usage: 12,
      min_prompt: usageOf(provider).min_prompt,
      completion_is_ids: true,
      within_max: true,
    });
    assert.ok(Number(usageOf(provider).min_prompt) > 0);
    assert.equal(usageOf('greedy-a').with_usage, 0);

    // What met serve received: the extra fields unchanged, and the sampler settings as request fields.
    const received = (await (await fetch(`${serve.url.replace(/\/v1$/, '')}/_met/requests`)).json()) as {
      requests: { path: string; body: Record<string, unknown> }[];
    };
    const last = received.requests.at(-1)!;
    assert.equal(last.path, '/v1/completions');
    assert.equal(last.body.met_probe, 'kept as sent');
    assert.equal(last.body.mirostat, 0);
    assert.equal(last.body.top_k, 1);
    assert.equal(last.body.min_p, 0.02);
    assert.equal(last.body.presence_penalty, 0.5);
  },
);

test('extraBody cannot override what met sets', () => {
  assert.throws(
    () => parseRunSpec({ corpus: 'x', prompts: { set: 'demo' }, sources: [{ kind: 'provider', provider: 'p', model: 'm', extraBody: { temperature: 0 } }] }),
    /extraBody cannot set "temperature"/,
  );
});

test('a test between slices drawn with different samplers warns, and refuses when asked to', { timeout: 240_000 }, async () => {
  await withWorkers(async (taskQueue) => {
    const plain = parseRunSpec({
      corpus: 'samplers',
      prompts: { set: 'demo', limit: 4 },
      samplesPerPrompt: 3,
      sampling: { maxTokens: 10, temperature: 1 },
      sources: [{ kind: 'local', model: backend.model, precision: 'fp32', source: 'plain' }],
    });
    await temporal.client.workflow.execute(collectCorpus, { taskQueue, workflowId: uniqueName('collect'), args: [{ spec: plain, runId: runIdOf(plain) }] });
    const base = {
      x: { corpus: 'samplers', model: backend.model, source: 'greedy-a' },
      y: { corpus: 'samplers', model: backend.model, source: 'plain' },
      b: 50,
      L: 10,
    };
    const warned = await temporal.client.workflow.execute(runTest, {
      taskQueue,
      workflowId: uniqueName('test'),
      args: [TestSpec.parse({ ...base, testId: uniqueName('t') })],
    });
    assert.equal(warned.warnings?.length, 1);
    assert.match(warned.warnings[0], /"topK":1.*the test compares the samplers as well as the models/);
    const same = await temporal.client.workflow.execute(runTest, {
      taskQueue,
      workflowId: uniqueName('test'),
      args: [TestSpec.parse({ ...base, y: { ...base.y, source: 'greedy-b' }, testId: uniqueName('t'), samplerMismatch: 'refuse' })],
    });
    assert.equal(same.warnings, undefined, 'the same sampler on both sides: nothing to say');
    await assert.rejects(
      temporal.client.workflow.execute(runTest, {
        taskQueue,
        workflowId: uniqueName('test'),
        args: [TestSpec.parse({ ...base, testId: uniqueName('t'), samplerMismatch: 'refuse' })],
      }),
      (err: Error & { cause?: Error }) =>
        /samplerMismatch is 'refuse'/.test(`${err.message} ${err.cause?.message} ${(err.cause as { cause?: Error })?.cause?.message}`),
    );
  });
});
