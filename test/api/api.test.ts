import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { buildApi, startApi } from '../../api/server';
import { resultOf, startJob } from '../../jobs';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { TINY_CORPUS } from '../../models/tinyCorpus';
import { TestSpec } from '../../config/testSpec';
import { modelTaskQueue } from '../../temporal/queues';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-api-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    const paths = writeTinyModels(join(dataDir, 'models'));
    fp32 = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model });
    int8 = await loadLlamaBackend({ path: paths.int8, precision: 'int8', model });
    const plans = [
      cpuWorkerPlan({ dataDir, duck, taskQueue }),
      ...modelWorkerPlans({ dataDir, duck, backend: fp32, gpu: 'cpu' }),
      ...modelWorkerPlans({ dataDir, duck, backend: int8, gpu: 'cpu' }),
    ];
    const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
    const running = workers.map((w) => w.run());
    stopWorkers = async () => {
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
    };
    api = await startApi({
      client: temporal.client,
      dataDir,
      address: temporal.address,
      namespace: temporal.namespace,
      port: 0,
      taskQueue,
      healthQueues: [modelTaskQueue(model, 'fp32')],
    });
  },
  beforeClose: async () => {
    await api?.close();
    await stopWorkers?.();
    await fp32?.close();
    await int8?.close();
  },
});
let fp32: LlamaBackend;
let int8: LlamaBackend;
let api: Awaited<ReturnType<typeof startApi>>;
let stopWorkers: () => Promise<void>;
const taskQueue = uniqueName('api-cpu');
const model = uniqueName('tinyapi');

// Response bodies are checked field by field below; their static type adds nothing here.
const json = (r: Response): Promise<any> => r.json();

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** Direct scoring, no Temporal and no HTTP: the values the API must return. */
async function direct(backend: LlamaBackend, text: string) {
  const s = await backend.score('', text);
  return -s.tokenLogprobs.reduce((a, b) => a + b, 0) / s.tokenIds.length;
}

test('50 concurrent perplexity requests through the HTTP API and real Temporal all equal direct scoring', { timeout: 240_000 }, async () => {
  const sentences = TINY_CORPUS.split(/(?<=\.)\s+/).filter((s) => s.length > 10);
  const requests = Array.from({ length: 50 }, (_, i) => [sentences[i % sentences.length], sentences[(i * 7 + 3) % sentences.length].slice(0, 20 + (i % 30))]);
  const responses = await Promise.all(
    requests.map((texts) => post(`${api.url}/v1/perplexity`, { texts, models: [`${model}/fp32`, { model, precision: 'int8' }] })),
  );
  const bodies = await Promise.all(responses.map(json));
  responses.forEach((r, i) => assert.equal(r.status, 200, JSON.stringify(bodies[i])));
  assert.equal(new Set(bodies.map((b) => b.workflowId)).size, 50, 'each request is its own workflow');
  for (let i = 0; i < requests.length; i++) {
    assert.equal(bodies[i].perByte, false, 'one model name: one tokenizer, per-token perplexity');
    for (const [k, text] of requests[i].entries()) {
      const [a, b] = [await direct(fp32, text), await direct(int8, text)];
      const got = bodies[i].texts[k];
      assert.ok(Math.abs(got.perModel[0].logPerplexity - a) < 1e-9, `fp32 ${got.perModel[0].logPerplexity} vs ${a}`);
      assert.ok(Math.abs(got.perModel[1].logPerplexity - b) < 1e-9, `int8 ${got.perModel[1].logPerplexity} vs ${b}`);
      assert.ok(Math.abs(got.perplexity - Math.exp((a + b) / 2)) < 1e-9 * got.perplexity);
      assert.notEqual(a, b, 'the precisions really differ');
    }
  }
});

test(
  'an empty text gets a 400 naming the field; an over-long one a 400 naming the limit; an unserved model a 503 naming the worker to start',
  { timeout: 60_000 },
  async () => {
    const empty = await post(`${api.url}/v1/perplexity`, { texts: ['fine', ''], models: [`${model}/fp32`] });
    assert.equal(empty.status, 400);
    const body = await json(empty);
    assert.equal(body.error, 'bad_request');
    assert.match(body.message, /texts\.1: empty text/);
    assert.deepEqual(body.issues[0].path, 'texts.1');

    // Within the character limit but beyond the tiny model's 512-token context: the activity refuses it.
    const long = await post(`${api.url}/v1/perplexity`, { texts: ['once upon a time '.repeat(200)], models: [`${model}/fp32`] });
    assert.equal(long.status, 400);
    assert.match((await json(long)).message, /texts\[0\] needs \d+ tokens .* context of 512: split it/);

    const unserved = await post(`${api.url}/v1/perplexity`, { texts: ['hello'], models: ['nobody-serves-this/fp32'] });
    assert.equal(unserved.status, 503);
    assert.match((await json(unserved)).message, /met worker --model nobody-serves-this --precision fp32/);

    const badModel = await post(`${api.url}/v1/perplexity`, { texts: ['hello'], models: ['tiny'] });
    assert.equal(badModel.status, 400);
    assert.match((await json(badModel)).message, /models\.0.*MODEL\/PRECISION/);
  },
);

test('a request body over the limit is refused before any work', { timeout: 30_000 }, async () => {
  const small = await startApi({
    client: temporal.client,
    dataDir,
    address: temporal.address,
    namespace: temporal.namespace,
    port: 0,
    taskQueue,
    bodyLimit: 1024,
  });
  try {
    const r = await post(`${small.url}/v1/perplexity`, { texts: ['x'.repeat(2000)], models: [`${model}/fp32`] });
    assert.equal(r.status, 413);
  } finally {
    await small.close();
  }
});

test('binding beyond loopback needs a token, and then every request must carry it', { timeout: 30_000 }, async () => {
  await assert.rejects(
    buildApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, host: '0.0.0.0' }),
    /set a bearer token/,
  );
  const token = 'a-long-random-test-token-0123456789';
  const open = await startApi({
    client: temporal.client,
    dataDir,
    address: temporal.address,
    namespace: temporal.namespace,
    host: '0.0.0.0',
    port: 0,
    token,
    taskQueue,
  });
  try {
    const port = new URL(open.url).port;
    const anonymous = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
    const wrong = await post(
      `http://127.0.0.1:${port}/v1/perplexity`,
      { texts: ['hi'], models: [`${model}/fp32`] },
      { authorization: `Bearer ${token.slice(0, -1)}x` },
    );
    assert.equal(wrong.status, 401);
    const authed = await fetch(`http://127.0.0.1:${port}/health`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(authed.status, 200);
  } finally {
    await open.close();
  }
});

test('/health reports Temporal and the workers polling each queue; /docs serves the OpenAPI document', { timeout: 30_000 }, async () => {
  const health = await json(await fetch(`${api.url}/health`));
  assert.equal(health.temporal.reachable, true);
  assert.equal(health.ok, true, JSON.stringify(health));
  const fp32Queue = health.queues.find((q: { name: string }) => q.name === modelTaskQueue(model, 'fp32'));
  assert.ok(fp32Queue.pollers >= 1);
  const doc = await json(await fetch(`${api.url}/openapi.json`));
  for (const path of ['/health', '/v1/perplexity', '/v1/runs', '/v1/runs/{id}', '/v1/tests', '/v1/runs/{id}/report', '/v1/consistency'])
    assert.ok(doc.paths[path], `${path} documented`);
  assert.ok(doc.paths['/v1/perplexity'].post.requestBody.content['application/json'].schema.properties.texts);
  const tests = doc.paths['/v1/tests'].post;
  for (const stat of ['mmd_hamming', 'rut', 'g_squared', 'chi_squared', 'truncated_chi_squared', 'L1', 'L2'])
    assert.ok(tests.requestBody.content['application/json'].schema.properties.stat.enum.includes(stat), `stat ${stat} documented`);
  assert.match(tests.description, /one-sample statistic .*scorer/);
  const ui = await fetch(`${api.url}/docs/`);
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /swagger/i);
});

test(
  'POST /v1/runs starts a collection, GET /v1/runs/:id follows it, POST /v1/tests tests it (two-sample, and one-sample once scored)',
  { timeout: 180_000 },
  async () => {
    const spec = {
      corpus: 'api-corpus',
      prompts: { set: 'demo', limit: 4 },
      samplesPerPrompt: 8,
      sampling: { maxTokens: 12 },
      sources: [
        { kind: 'local', model, precision: 'fp32' },
        { kind: 'local', model, precision: 'int8' },
      ],
      unitSize: 16,
    };
    const bad = await post(`${api.url}/v1/runs`, { ...spec, sources: [{ kind: 'provider', provider: 'openai', model: 'x', apiKey: 'sk-secret' }] });
    assert.equal(bad.status, 400);
    assert.match((await json(bad)).message, /sources\.0\.apiKey: API keys never go in a run spec/);

    const started = await post(`${api.url}/v1/runs`, spec);
    assert.equal(started.status, 202);
    const run = await json(started);
    const again = await json(await post(`${api.url}/v1/runs`, spec));
    assert.equal(again.workflowId, run.workflowId, 'the same spec attaches to the same run');

    let state: { status: string; progress: { done: number; total: number }[]; result?: { rows: number } } | undefined;
    for (let i = 0; i < 600; i++) {
      state = await json(await fetch(`${api.url}${run.statusUrl}`));
      if (state!.status !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state!.status, 'COMPLETED', JSON.stringify(state));
    assert.equal(state!.result!.rows, 64);

    const testSpec = {
      testId: uniqueName('api-test'),
      x: { corpus: 'api-corpus', model, source: 'fp32' },
      y: { corpus: 'api-corpus', model, source: 'int8' },
      b: 50,
      L: 48,
    };
    const tested = await post(`${api.url}/v1/tests`, testSpec);
    assert.equal(tested.status, 200);
    const outcome = await json(tested);
    assert.equal(outcome.n1, 32);
    assert.ok(outcome.pvalue > 0 && outcome.pvalue <= 1);
    assert.equal(outcome.verdict, outcome.reject ? 'differs' : 'consistent', "the CLI's verdict word");
    assert.equal(outcome.p, `p = ${outcome.pvalue.toPrecision(3)}`, "the CLI's p-value format");
    // The rank-based uniformity test through the same endpoint: validated by TestSpec, run by runTest.
    const noScorer = await post(`${api.url}/v1/tests`, { ...testSpec, testId: uniqueName('api-rut'), stat: 'rut' });
    assert.equal(noScorer.status, 400);
    assert.match((await json(noScorer)).message, /scorer/);
    const unscored = await post(`${api.url}/v1/tests`, { ...testSpec, testId: uniqueName('api-rut'), stat: 'rut', scorer: { model, precision: 'fp32' } });
    assert.notEqual(unscored.status, 200);
    assert.match((await json(unscored)).message, /no logprobs under scorer/);

    // MET's one-sample test through the same endpoint: it needs a scorer, then both slices scored under it.
    const oneSample = { ...testSpec, testId: uniqueName('api-g2'), stat: 'g_squared', L: 4096 };
    const g2NoScorer = await post(`${api.url}/v1/tests`, oneSample);
    assert.equal(g2NoScorer.status, 400);
    assert.match((await json(g2NoScorer)).message, /g_squared tests Y against the reference model's own probabilities: give scorer/);
    const scorer = { model, precision: 'fp32' as const };
    const scoreId = uniqueName('api-score');
    await startJob(temporal.client, { taskQueue, workflowId: scoreId }, { job: 'scoreCorpus', input: { corpus: 'api-corpus', scorer } });
    await resultOf(temporal.client, { job: 'scoreCorpus', input: { corpus: 'api-corpus', scorer }, workflowId: scoreId });
    const g2 = await post(`${api.url}/v1/tests`, { ...oneSample, scorer });
    const g2Outcome = await json(g2);
    assert.equal(g2.status, 200, JSON.stringify(g2Outcome));
    assert.deepEqual([g2Outcome.statistic, g2Outcome.n1, g2Outcome.n2, g2Outcome.b], ['g_squared', 32, 32, 50]);
    assert.ok(Number.isInteger(g2Outcome.undefinedNulls), 'the one-sample tests report their undefined nulls');
    assert.equal(g2Outcome.verdict, g2Outcome.reject ? 'differs' : 'consistent');
    assert.equal(g2Outcome.p, g2Outcome.pvalue === 0 ? 'p < 0.02 (b = 50)' : `p = ${g2Outcome.pvalue.toPrecision(3)}`);
    // The API answers what runTest computes: the same spec run as the workflow directly gives the same statistic and p-value.
    const directId = uniqueName('api-g2-direct');
    const directSpec = { ...oneSample, testId: directId, scorer, pvalue: 'bootstrap' as const, stat: 'g_squared' as const };
    await startJob(temporal.client, { taskQueue, workflowId: directId }, { job: 'runTest', input: TestSpec.parse(directSpec) });
    const direct = await resultOf(temporal.client, { job: 'runTest', input: TestSpec.parse(directSpec), workflowId: directId });
    assert.deepEqual([g2Outcome.value, g2Outcome.pvalue, g2Outcome.undefinedNulls], [direct.value, direct.pvalue, direct.undefinedNulls]);

    const missing = await fetch(`${api.url}/v1/runs/no-such-run`);
    assert.equal(missing.status, 404);
    assert.match((await json(missing)).message, /no run 'no-such-run'/);
    const report = await fetch(`${api.url}/v1/runs/${encodeURIComponent(run.runId)}/report`);
    assert.equal(report.status, 404);
    assert.match((await json(report)).message, /is a collection run: reports exist for test, power grid, consistency runs/);
  },
);
