import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { parseConsistencySpec, planConsistency, type ConsistencySpecInput } from '../../config/consistencySpec';
import { cosineSimilarity, createEmbedder } from '../../models/embedding';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { startServe, type RunningServe } from '../../serve/server';
import { consistencyReport } from '../../workflows/consistencyReport';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';
import { exited, spawnMet } from '../helpers/processes';
import { newRunRecord, saveRunRecord } from '../../client/runs';
import { freePort } from '../../common/net';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-consistency-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    paths = writeTinyModels(join(dataDir, 'models'));
    // Unique model names: model queues are shared by every test file on the test server.
    const model = uniqueName('tinyc');
    f32 = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model });
    q4 = await loadLlamaBackend({ path: paths.nf4, precision: 'nf4', model });
  },
});
let f32: LlamaBackend;
let q4: LlamaBackend;
let paths: Record<string, string>;
const servers: RunningServe[] = [];

after(async () => {
  for (const s of servers) await s.close();
  await f32?.close();
  await q4?.close();
});

/** Local F32 (side a, on the model worker) against an OpenAI-compatible endpoint (side b) serving `served`. */
async function consistencyAgainst(served: LlamaBackend, label: string) {
  const serve = await startServe({ backend: served, claimModel: 'tiny-F32' });
  servers.push(serve);
  const provider = uniqueName(`endpoint-${label}`);
  const input: ConsistencySpecInput = {
    id: uniqueName(`consistency-${label}`),
    a: { kind: 'local', model: f32.model, precision: 'fp32' },
    b: { kind: 'provider', provider, model: f32.model, source: label, baseURL: serve.url, concurrency: 4 },
    prompts: { set: 'demo', limit: 8 },
    samplesPerPrompt: 10,
    sampling: { maxTokens: 16, temperature: 1 },
    scorer: `${f32.model}/fp32`,
    embed: { kind: 'endpoint', baseURL: serve.url, model: 'hashed-trigrams' },
    test: { b: 100, L: 64 },
    unitSize: 40,
  };
  const plan = planConsistency(parseConsistencySpec(input));
  const taskQueue = uniqueName('consistency-cpu');
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue }),
    ...modelWorkerPlans({ dataDir, duck, backend: f32, gpu: 'cpu' }),
    ...providerWorkerPlans({ dataDir, duck, providers: [{ name: provider, concurrentUnits: 2, timeoutMs: 30_000, allowSpecBaseURL: true }], env: {} }),
  ];
  const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
  const running = workers.map((w) => w.run());
  try {
    // Recorded as met consistency records its runs, so that met report finds it.
    const record = newRunRecord({ job: 'consistencyReport', input: plan }, plan.id, { taskQueue });
    await saveRunRecord(dataDir, record);
    const outcome = await temporal.client.workflow.execute(consistencyReport, { taskQueue, workflowId: record.workflowId, args: [plan] });
    return { ...outcome, plan, record };
  } finally {
    workers.forEach((w) => w.shutdown());
    await Promise.all(running);
  }
}

test(
  'consistency: local F32 vs the same model behind met serve: identical answers, similarity 1, equal perplexities, MMD does not reject',
  { timeout: 240_000 },
  async () => {
    const r = await consistencyAgainst(f32, 'served-f32');
    const c = r.comparison;
    assert.equal(c.pairs, 80);
    assert.equal(c.identicalPairs, 80, 'shared seeds and identical weights give identical answers');
    assert.equal(c.identicalScoreGap, 0, 'the same text is scored identically on both sides');
    assert.ok(c.meanSimilarity > 0.999, `mean similarity ${c.meanSimilarity}`);
    assert.ok(Math.abs(c.a.perplexity - c.b.perplexity) <= 1e-9 * c.a.perplexity, `perplexities ${c.a.perplexity} vs ${c.b.perplexity}`);
    assert.equal(c.a.tokens, c.b.tokens);
    assert.equal(r.mmd.reject, false, `p = ${r.mmd.pvalue}`);
    assert.ok(existsSync(r.reportPath));
    const html = readFileSync(r.reportPath, 'utf8');
    assert.match(html, /mean cosine similarity/);
    assert.match(html, new RegExp(`perplexity of ${f32.model}/fp32`));
  },
);

let q4Run: Awaited<ReturnType<typeof consistencyAgainst>> | undefined;

test('consistency: local F32 vs an endpoint secretly serving Q4_0: lower similarity, different perplexity, MMD rejects', { timeout: 240_000 }, async () => {
  const r = (q4Run = await consistencyAgainst(q4, 'served-q4'));
  const c = r.comparison;
  assert.equal(c.pairs, 80);
  assert.ok(c.identicalPairs < 80, `${c.identicalPairs} identical pairs`);
  assert.ok(c.meanSimilarity < 0.95, `mean similarity ${c.meanSimilarity}`);
  assert.notEqual(c.a.perplexity, c.b.perplexity);
  assert.equal(r.mmd.reject, true, `p = ${r.mmd.pvalue}`);
  const data = JSON.parse(readFileSync(r.dataPath, 'utf8'));
  assert.equal(data.sections[0].mmd.decision, 'reject');
});

test(
  "met report RUN for a consistency run: the report again from its worker's report.json, or from the workflow's result when this host has none",
  { timeout: 120_000 },
  async () => {
    assert.ok(q4Run, 'the Q4_0 consistency run above completed');
    const runId = q4Run.plan.id;
    const dir = dirname(q4Run.reportPath);
    const written = JSON.parse(readFileSync(q4Run.dataPath, 'utf8'));
    const met = async (args: string[], env: NodeJS.ProcessEnv) => {
      const child = spawnMet(['report', runId, '--data', dataDir, ...args], {
        TEMPORAL_ADDRESS: '',
        MET_TEMPORAL_PORT: '',
        TEMPORAL_NAMESPACE: temporal.namespace,
        ...env,
      });
      return { code: await exited(child), output: child.output() };
    };
    const verdict = new RegExp(`^${f32.model}/\\S+ vs ${f32.model}/served-q4: differs at α = 0\\.05 \\(mmd_hamming, p [=<] [\\d.e-]+`, 'm');

    // The worker's copy without its page (this host has report.json): written again from it, Temporal not asked (its address leads nowhere).
    rmSync(q4Run.reportPath);
    const nowhere = await met(['--address', `127.0.0.1:${await freePort()}`], {});
    assert.equal(nowhere.code, 0, nowhere.output);
    assert.match(nowhere.output, verdict);
    assert.match(nowhere.output, new RegExp(`^Report: ${q4Run.reportPath} \\(from ${join(dir, 'report.json')}\\)$`, 'm'));
    assert.match(readFileSync(q4Run.reportPath, 'utf8'), /mean cosine similarity/);

    // The worker on another host (nothing under reports/ here): from the completed workflow's result, the same numbers.
    rmSync(dir, { recursive: true });
    const fromResult = await met([], { MET_TEMPORAL_PORT: temporal.address.split(':').pop()! });
    assert.equal(fromResult.code, 0, fromResult.output);
    assert.match(fromResult.output, verdict);
    assert.match(fromResult.output, new RegExp(`^Report: ${q4Run.reportPath} \\(from the result of workflow ${q4Run.record.workflowId}\\)$`, 'm'));
    const again = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    assert.deepEqual(again.sections, written.sections);
    assert.equal(again.meta.runId, runId);
    assert.ok(existsSync(join(dir, 'figures')) && readdirSync(join(dir, 'figures')).some((f) => f.endsWith('.svg')));
    assert.match(readFileSync(q4Run.reportPath, 'utf8'), new RegExp(`perplexity of ${f32.model}/fp32`));
  },
);

test('a local GGUF embedding model (node-llama-cpp) embeds answers: identical texts have cosine 1, different texts less', { timeout: 60_000 }, async () => {
  const embedder = await createEmbedder({ kind: 'local', path: paths.fp32, batchSize: 8 }, {});
  try {
    const [a, b, c] = await embedder.embed(['the river was older than the town', 'the river was older than the town', 'a cat sat on the mat']);
    assert.ok(a.length > 0);
    assert.ok(Math.abs(cosineSimilarity(a, b) - 1) < 1e-6);
    assert.ok(cosineSimilarity(a, c) < 0.9999, `cosine ${cosineSimilarity(a, c)}`);
  } finally {
    await embedder.close();
  }
});

test('a consistency spec with a key in it, or the same source on both sides, is refused with the field named', () => {
  assert.throws(
    () =>
      parseConsistencySpec({
        a: { kind: 'local', model: 'm', precision: 'fp32' },
        b: { kind: 'local', model: 'm', precision: 'fp32' },
        prompts: { set: 'demo' },
        scorer: 'm/fp32',
        embed: { kind: 'local', path: 'x.gguf' },
      }),
    /b\.source: both sides are m\/fp32/,
  );
  assert.throws(
    () =>
      parseConsistencySpec({
        a: { kind: 'local', model: 'm', precision: 'fp32' },
        b: { kind: 'provider', provider: 'openai', model: 'm', apiKey: 'sk-123' },
        prompts: { set: 'demo' },
        scorer: 'm/fp32',
        embed: { kind: 'local', path: 'x.gguf' },
      }),
    /b\.apiKey: API keys never go in a run spec/,
  );
});

test('met consistency flags: local:MODEL/PRECISION and PROVIDER:MODEL@URL sources, GGUF or endpoint embeddings', async () => {
  const { parseSourceFlag, parseEmbedFlag } = await import('../../cli/consistency');
  assert.deepEqual(parseSourceFlag('local:tiny/fp32'), { kind: 'local', model: 'tiny', precision: 'fp32' });
  assert.deepEqual(parseSourceFlag('vllm:tiny@http://127.0.0.1:8000/v1', 'b'), {
    kind: 'provider',
    provider: 'vllm',
    model: 'tiny',
    baseURL: 'http://127.0.0.1:8000/v1',
    source: 'vllm-b',
  });
  assert.throws(() => parseSourceFlag('tiny'), /use local:MODEL\/PRECISION/);
  assert.deepEqual(parseEmbedFlag('/models/e5.gguf'), { kind: 'local', path: '/models/e5.gguf' });
  assert.deepEqual(parseEmbedFlag('bge@http://127.0.0.1:9000/v1'), { kind: 'endpoint', model: 'bge', baseURL: 'http://127.0.0.1:9000/v1' });
});

test('ensembled perplexity: the mean of log-perplexities, per byte by default when model names (tokenizers) differ', async () => {
  const { combinePerplexities, PerplexityRequest } = await import('../../config/perplexitySpec');
  const texts = ['héllo', 'ab'];
  const scores = [
    {
      model: 'm1',
      precision: 'fp32',
      texts: [
        { sum: -6, tokens: 3, bytes: 6 },
        { sum: -1, tokens: 1, bytes: 2 },
      ],
    },
    {
      model: 'm2',
      precision: 'fp32',
      texts: [
        { sum: -12, tokens: 4, bytes: 6 },
        { sum: -3, tokens: 2, bytes: 2 },
      ],
    },
  ];
  const byByte = combinePerplexities(PerplexityRequest.parse({ texts, models: ['m1/fp32', 'm2/fp32'] }), scores);
  assert.equal(byByte.perByte, true);
  assert.equal(byByte.texts[0].logPerplexity, (6 / 6 + 12 / 6) / 2);
  const byToken = combinePerplexities(PerplexityRequest.parse({ texts, models: ['m1/fp32', 'm2/fp32'], perByte: false }), scores);
  assert.equal(byToken.texts[0].logPerplexity, (6 / 3 + 12 / 4) / 2);
  assert.equal(byToken.texts[1].perplexity, Math.exp((1 / 1 + 3 / 2) / 2));
  assert.throws(() => PerplexityRequest.parse({ texts, models: ['m1/fp32', 'm1/fp32'] }), /m1\/fp32 is listed twice/);
  assert.throws(() => PerplexityRequest.parse({ texts, prompts: ['only one'], models: ['m1/fp32'] }), /1 prompts for 2 texts/);
});
