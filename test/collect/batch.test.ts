/**
 * The Batch API (`batch:` on a provider source) against `met serve`'s /v1/files + /v1/batches: a
 * run of small batches ends with exactly its rows, the same samples an online run draws; a retried
 * submit reuses the unit's batch and a retried download adds no row. Real Temporal.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createBatchActivities } from '../../activities/batch';
import { createCollectActivities } from '../../activities/collect';
import { createSamplingActivities, type UnitResult } from '../../activities/sampling';
import { UnitJournal } from '../../datasets/journal';
import { planSources } from '../../collect/plan';
import { CorpusStore } from '../../datasets/corpusStore';
import { parseRunSpec, runIdOf, type RunSpecInput } from '../../config/runSpec';
import type { ProviderWorkerSpec } from '../../config/workers';
import { quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { ProviderGenerator } from '../../providers/generator';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, withPlanWorkers, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-batch-', (env) => ({ temporal, duck } = env));
const servers: RunningServe[] = [];

after(async () => {
  for (const s of servers) await s.close();
});

const prompts = Array.from({ length: 5 }, (_, i) => ({ id: `p${i}`, text: `prompt ${i}: a story about a lighthouse` }));

async function rows(corpus: string) {
  return withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT prompt_id, sample_index, completion, seed, prompt_tokens FROM read_parquet(${quotedString(join(kindDir(dataDir, corpus, 'samples'), '*', '*', 'part-*.parquet'))}, hive_partitioning = true) ORDER BY prompt_id, sample_index`,
    );
    return r.getRowObjects().map((o) => ({
      key: `${o.prompt_id}/${o.sample_index}`,
      completion: String(o.completion),
      seed: Number(o.seed),
      promptTokens: o.prompt_tokens === null ? null : Number(o.prompt_tokens),
    }));
  });
}

async function run(specInput: RunSpecInput, providers: ProviderWorkerSpec[]) {
  const spec = parseRunSpec(specInput);
  const taskQueue = uniqueName('batch-cpu');
  const handle = await withPlanWorkers(
    temporal,
    [cpuWorkerPlan({ dataDir, duck, taskQueue }), ...providerWorkerPlans({ dataDir, duck, providers, env: {} })],
    async () => {
      const h = await temporal.client.workflow.start(collectCorpus, { taskQueue, workflowId: uniqueName('batch'), args: [{ spec, runId: runIdOf(spec) }] });
      await h.result();
      return h;
    },
  );
  return { spec, result: await handle.result(), handle };
}

test(
  'a run through the Batch API: one batch per unit, polled with timers, exactly its rows, the samples an online run draws',
  { timeout: 120_000 },
  async () => {
    const serve = await startServe({ backend: new TextGeneratorBackend(), seed: 2, batch: { latencyMs: 400 } });
    servers.push(serve);
    const online = await startServe({ backend: new TextGeneratorBackend(), seed: 2 });
    servers.push(online);
    const [batched, direct] = [uniqueName('batched'), uniqueName('direct')];
    const providers: ProviderWorkerSpec[] = [
      { name: batched, baseURL: serve.url, concurrentUnits: 2, timeoutMs: 10_000 },
      { name: direct, baseURL: online.url, concurrentUnits: 2, timeoutMs: 10_000 },
    ];
    const base = { prompts: { inline: prompts }, samplesPerPrompt: 20, unitSize: 50, window: 2, sampling: { maxTokens: 16 } };
    const { result, handle } = await run(
      {
        ...base,
        corpus: 'batch-api',
        sources: [{ kind: 'provider', provider: batched, model: 'm1', source: 'same', batch: { pollSeconds: 0.2, maxPollSeconds: 1 } }],
      },
      providers,
    );
    await run({ ...base, corpus: 'batch-online', sources: [{ kind: 'provider', provider: direct, model: 'm1', source: 'same' }] }, providers);

    assert.equal(result.rows, 100);
    const got = await rows('batch-api');
    assert.equal(new Set(got.map((r) => r.key)).size, 100);
    assert.ok(
      got.every((r) => r.promptTokens !== null && r.promptTokens > 0),
      'usage as the batch output reported it',
    );
    assert.deepEqual(got, await rows('batch-online'), 'the same keys, seeds and completions as online');
    const stats = serve.stats();
    assert.deepEqual(stats.batches, { created: 2, requests: 100, downloads: 2 }, 'one batch per unit, one download each');
    assert.equal(stats.served, 100, 'no request outside the batches');
    // The units ran as child workflows (batchUnit) that waited on durable timers.
    const parent = await handle.fetchHistory();
    const children = (parent.events ?? []).flatMap((e) =>
      e.startChildWorkflowExecutionInitiatedEventAttributes ? [e.startChildWorkflowExecutionInitiatedEventAttributes] : [],
    );
    assert.deepEqual(
      children.map((c) => c.workflowType?.name),
      ['batchUnit', 'batchUnit'],
    );
    const history = JSON.stringify(await temporal.client.workflow.getHandle(children[0].workflowId!).fetchHistory());
    assert.match(history, /EVENT_TYPE_TIMER_FIRED/);
    assert.match(history, /"name":"collectBatch"/);
  },
);

test("a retried submit reuses the unit's batch; a retried download adds no row; the shard has each sample once", { timeout: 60_000 }, async () => {
  const serve = await startServe({ backend: new TextGeneratorBackend(), seed: 4, batch: { latencyMs: 50 } });
  servers.push(serve);
  const provider = uniqueName('retried');
  const spec = parseRunSpec({
    corpus: 'batch-retry',
    prompts: { inline: prompts },
    samplesPerPrompt: 8,
    unitSize: 40,
    sources: [{ kind: 'provider', provider, model: 'm1', n: 4, batch: {} }],
  });
  const runId = runIdOf(spec);
  const prepared = await createCollectActivities({ duck, dataDir }).prepareRun({ spec, runId });
  const unit = planSources(spec, runId, prepared.promptCount)[0].units[0];
  const input = {
    corpus: spec.corpus,
    runId,
    promptSet: prepared.promptSet,
    promptsFile: prepared.promptsFile,
    samplesPerPrompt: spec.samplesPerPrompt,
    sampling: spec.sampling,
    source: spec.sources[0],
    unit,
  };
  const generator = new ProviderGenerator({ env: {}, providers: [{ name: provider, baseURL: serve.url, concurrentUnits: 1, timeoutMs: 10_000 }] });
  const store = new CorpusStore(duck, dataDir);
  const api = createBatchActivities({ store, clients: generator });

  const first = await api.submitBatch(input);
  const again = await api.submitBatch(input);
  assert.equal(again.batchId, first.batchId, "the second submit found the first one's batch");
  assert.deepEqual([first.reused, again.reused, first.requests, first.samples], [false, true, 10, 40], '40 samples in requests of n = 4');
  let state = await api.pollBatch({ source: input.source, batchId: first.batchId! });
  while (state.status !== 'completed') {
    await new Promise((r) => setTimeout(r, 50));
    state = await api.pollBatch({ source: input.source, batchId: first.batchId! });
  }
  const collected = await api.collectBatch({ ...input, batchId: first.batchId!, outputFileId: state.outputFileId });
  const recollected = await api.collectBatch({ ...input, batchId: first.batchId!, outputFileId: state.outputFileId });
  assert.deepEqual(collected, { journaled: 40, added: 40, unanswered: 0, malformed: 0 });
  assert.deepEqual(recollected, { journaled: 40, added: 0, unanswered: 0, malformed: 0 }, 'the retried download added nothing');
  const journal = new UnitJournal<{ flat: number }>(store.journalPath(spec.corpus, 'samples', { model: 'm1', source: provider }, unit.unitId)).recover();
  assert.equal(journal.length, 40);
  assert.equal((await api.submitBatch(input)).batchId, null, 'a unit whose samples are all journaled submits nothing');

  const sampling = createSamplingActivities({ store, generatorFor: () => generator });
  const written: UnitResult = await new MockActivityEnvironment({ heartbeatTimeoutMs: 5000 }).run(sampling.sampleUnit, input);
  assert.deepEqual([written.rows, written.resumedFrom], [40, 40], 'the shard from the journal, nothing sampled online');
  assert.equal(serve.stats().served, 10, "ten requests in all: the batch's");
  const got = await rows('batch-retry');
  assert.equal(got.length, 40);
  assert.equal(new Set(got.map((r) => r.key)).size, 40);
});

test('lines a batch did not answer (500s in its error file) are sampled online, and the unit still has each sample once', { timeout: 60_000 }, async () => {
  const serve = await startServe({ backend: new TextGeneratorBackend(), seed: 6, faults: { fail500: 0.3 }, batch: { latencyMs: 50 } });
  servers.push(serve);
  const provider = uniqueName('partial');
  const { result } = await run(
    {
      corpus: 'batch-partial',
      prompts: { inline: prompts },
      samplesPerPrompt: 10,
      unitSize: 50,
      sources: [{ kind: 'provider', provider, model: 'm1', batch: { pollSeconds: 0.1, maxPollSeconds: 1 } }],
    },
    [{ name: provider, baseURL: serve.url, concurrentUnits: 1, timeoutMs: 10_000 }],
  );
  assert.equal(result.rows, 50);
  const got = await rows('batch-partial');
  assert.equal(new Set(got.map((r) => r.key)).size, 50);
  const stats = serve.stats();
  assert.equal(stats.batches.requests, 50);
  assert.ok(stats.faults.server_error > 0, 'some batch lines failed');
  // Beyond the batch's 50 lines, one online success per failed line plus one request per online 500:
  // as many requests as 500s in all, exactly (nothing sampled twice, nothing the batch answered sampled again).
  assert.equal(stats.requests, 50 + stats.faults.server_error, JSON.stringify(stats));
});
