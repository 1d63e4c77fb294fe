/**
 * n > 1 completions per request against `met serve`: fewer requests and prompt tokens billed once
 * per request; an endpoint that refuses n (400 naming `n`) is sent n = 1 from then on; keys and
 * seeds are deterministic, so a run through injected faults (retries) gives the same samples as a
 * clean one, each exactly once. Real Temporal.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { parseRunSpec, runIdOf, type RunSpecInput } from '../../config/runSpec';
import type { ProviderWorkerSpec } from '../../config/workers';
import { quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { groupRequests } from '../../providers/generator';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, withPlanWorkers, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-n-', (env) => ({ temporal, duck } = env));
const servers: RunningServe[] = [];

after(async () => {
  for (const s of servers) await s.close();
});

async function serve(options: Partial<Parameters<typeof startServe>[0]> = {}) {
  const s = await startServe({ backend: new TextGeneratorBackend(), seed: 5, ...options });
  servers.push(s);
  return s;
}

async function run(specInput: RunSpecInput, providers: ProviderWorkerSpec[]) {
  const spec = parseRunSpec(specInput);
  const taskQueue = uniqueName('n-cpu');
  return withPlanWorkers(temporal, [cpuWorkerPlan({ dataDir, duck, taskQueue }), ...providerWorkerPlans({ dataDir, duck, providers, env: {} })], () =>
    temporal.client.workflow.execute(collectCorpus, { taskQueue, workflowId: uniqueName('n'), args: [{ spec, runId: runIdOf(spec) }] }),
  );
}

async function rows(corpus: string, source: string) {
  return withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT prompt_id, sample_index, completion, seed, prompt_tokens, completion_tokens, len(token_ids) AS ids, request_id
       FROM read_parquet(${quotedString(join(kindDir(dataDir, corpus, 'samples'), '*', '*', 'part-*.parquet'))}, hive_partitioning = true)
       WHERE source = $1 ORDER BY prompt_id, sample_index`,
      [source],
    );
    return r.getRowObjects().map((o) => ({
      key: `${o.prompt_id}/${o.sample_index}`,
      completion: String(o.completion),
      seed: Number(o.seed),
      promptTokens: Number(o.prompt_tokens),
      completionTokens: Number(o.completion_tokens),
      ids: Number(o.ids),
      requestId: String(o.request_id),
    }));
  });
}

test('groupRequests: at most n consecutive sample indices of one prompt per request', () => {
  const req = (flat: number, promptIndex: number, sampleIndex: number) => ({
    flat,
    promptId: `p${promptIndex}`,
    promptIndex,
    sampleIndex,
    prompt: 'x',
    seed: flat,
  });
  const requests = [req(0, 0, 0), req(1, 0, 1), req(2, 0, 2), req(4, 1, 0), req(5, 1, 1), req(7, 1, 3)];
  assert.deepEqual(
    groupRequests(requests, 2).map((g) => g.map((r) => r.flat)),
    [[0, 1], [2], [4, 5], [7]],
    'a new request at each prompt and at each gap (a sample already journaled)',
  );
  assert.deepEqual(
    groupRequests(requests, 1).map((g) => g.length),
    [1, 1, 1, 1, 1, 1],
  );
});

test(
  'n = 8: an eighth of the requests, the prompt billed once per request; a refusing endpoint falls back to n = 1; retries change nothing',
  { timeout: 120_000 },
  async () => {
    const clean = await serve();
    const faulty = await serve({ faults: { fail500: 0.15, malformed: 0.05, truncate: 0.05, hang: 0.02 }, seed: 9 });
    const refusing = await serve({ refuseN: true });
    const [a, b, c] = [uniqueName('n8'), uniqueName('n8faulty'), uniqueName('refuses')];
    const providers: ProviderWorkerSpec[] = [
      { name: a, baseURL: clean.url, concurrentUnits: 2, timeoutMs: 10_000 },
      { name: b, baseURL: faulty.url, concurrentUnits: 2, timeoutMs: 1_000 },
      { name: c, baseURL: refusing.url, concurrentUnits: 2, timeoutMs: 10_000 },
    ];
    const prompts = Array.from({ length: 6 }, (_, i) => ({ id: `p${i}`, text: `prompt ${i} about rivers and boats` }));
    // 20 samples per prompt in units of 30: units cross prompts; requests of 8, 8, 4 per prompt.
    const source = (provider: string) => ({ kind: 'provider' as const, provider, model: 'm1', source: 'same-seeds', n: 8, concurrency: 4 });
    const base = { prompts: { inline: prompts }, samplesPerPrompt: 20, unitSize: 30, window: 2, sampling: { maxTokens: 16 } };
    await run({ ...base, corpus: 'n-clean', sources: [source(a)] }, providers);
    await run({ ...base, corpus: 'n-faulty', sources: [source(b)] }, providers);
    await run({ ...base, corpus: 'n-refused', sources: [source(c)] }, providers);

    const cleanRows = await rows('n-clean', 'same-seeds');
    assert.equal(cleanRows.length, 120);
    assert.equal(new Set(cleanRows.map((r) => r.key)).size, 120);
    // Units of 30 over prompts of 20: unit 0 = p0 0-19 (8, 8, 4) + p1 0-9 (8, 2); unit 1 = p1 10-19 (8, 2) + p2 (8, 8, 4); ...
    const expectedRequests = [0, 1, 2, 3].reduce((n, u) => n + groupsOf(u * 30, u * 30 + 30), 0);
    assert.equal(clean.stats().served, expectedRequests, 'one request per group of at most 8');
    assert.ok(expectedRequests <= 120 / 4, `${expectedRequests} requests for 120 samples`);
    const byRequest = new Map<string, typeof cleanRows>();
    for (const r of cleanRows) byRequest.set(r.requestId, [...(byRequest.get(r.requestId) ?? []), r]);
    assert.equal(byRequest.size, expectedRequests);
    for (const group of byRequest.values()) {
      assert.equal(group.filter((r) => r.promptTokens > 0).length, 1, 'the prompt tokens are on one sample of the request');
      assert.equal(new Set(group.map((r) => r.seed)).size, 1, 'the rows carry the seed their request was sent with');
    }
    assert.ok(
      cleanRows.every((r) => r.completionTokens === r.ids),
      'completion tokens per choice, from its token ids',
    );

    const faultyRows = await rows('n-faulty', 'same-seeds');
    const f = faulty.stats().faults;
    assert.ok(f.server_error + f.malformed + f.truncate + f.hang > 0, JSON.stringify(f));
    assert.deepEqual(
      faultyRows.map((r) => [r.key, r.completion, r.seed]),
      cleanRows.map((r) => [r.key, r.completion, r.seed]),
      'through retries: the same keys, seeds and completions, each once',
    );

    const refusedRows = await rows('n-refused', 'same-seeds');
    assert.equal(refusedRows.length, 120);
    assert.equal(new Set(refusedRows.map((r) => r.key)).size, 120);
    const s = refusing.stats();
    assert.equal(s.served, 120, 'after the refusal, one request per sample');
    // Refused at most once per lane in flight before the worker remembered it: 2 units x 4 requests.
    assert.ok(s.faults.bad_request >= 1 && s.faults.bad_request <= 8, `refused ${s.faults.bad_request} times`);
    assert.ok(
      refusedRows.every((r) => r.promptTokens > 0),
      'n = 1: every sample carries its own prompt tokens',
    );
  },
);

/** Requests the samples [start, end) of 20-per-prompt take with n = 8. */
function groupsOf(start: number, end: number): number {
  let n = 0;
  for (let p = Math.floor(start / 20); p * 20 < end; p++) {
    const from = Math.max(start, p * 20);
    const to = Math.min(end, p * 20 + 20);
    n += Math.ceil((to - from) / 8);
  }
  return n;
}

test('met serve: chat completions answer n choices (seed + i each), and --refuse-n refuses n > 1 with a 400 naming n', async () => {
  const s = await serve();
  const refusing = await serve({ refuseN: true });
  const body = { model: 'x', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 8, seed: 7, n: 3 };
  const post = (url: string, b: object) =>
    fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
  const answer = (await (await post(s.url, body)).json()) as {
    choices: { index: number; message: { content: string }; token_ids: number[] }[];
    usage: { completion_tokens: number };
  };
  assert.deepEqual(
    answer.choices.map((c) => c.index),
    [0, 1, 2],
  );
  assert.equal(
    answer.usage.completion_tokens,
    answer.choices.reduce((n, c) => n + c.token_ids.length, 0),
  );
  const single = (await (await post(s.url, { ...body, n: 1, seed: 8 })).json()) as { choices: { message: { content: string } }[] };
  assert.equal(single.choices[0].message.content, answer.choices[1].message.content, 'choice 1 of seed 7 is seed 8');
  const refused = await post(refusing.url, body);
  assert.equal(refused.status, 400);
  assert.equal(((await refused.json()) as { error: { param: string } }).error.param, 'n');
  assert.equal((await post(refusing.url, { ...body, n: 1 })).status, 200);
});

test('n = 8: a unit cancelled mid-way resumes from its journal, requesting only what is missing, and has each sample once', { timeout: 60_000 }, async () => {
  const { MockActivityEnvironment } = await import('@temporalio/testing');
  const { createCollectActivities } = await import('../../activities/collect');
  const { createSamplingActivities } = await import('../../activities/sampling');
  const { CorpusStore } = await import('../../datasets/corpusStore');
  const { planSources } = await import('../../collect/plan');
  const { ProviderGenerator } = await import('../../providers/generator');
  const s = await serve({ faults: { latencyMs: 40 } });
  const provider = uniqueName('cancelled');
  const spec = parseRunSpec({
    corpus: 'n-cancelled',
    prompts: {
      inline: [
        { id: 'a', text: 'one' },
        { id: 'b', text: 'two' },
        { id: 'c', text: 'three' },
      ],
    },
    samplesPerPrompt: 20,
    unitSize: 60,
    sources: [{ kind: 'provider', provider, model: 'm1', n: 8, concurrency: 1 }],
  });
  const runId = runIdOf(spec);
  const prepared = await createCollectActivities({ duck, dataDir }).prepareRun({ spec, runId });
  const unit = planSources(spec, runId, prepared.promptCount)[0].units[0];
  const input = {
    corpus: spec.corpus,
    runId,
    promptSet: prepared.promptSet,
    promptsFile: prepared.promptsFile,
    samplesPerPrompt: 20,
    sampling: spec.sampling,
    source: spec.sources[0],
    unit,
  };
  const generator = new ProviderGenerator({ env: {}, providers: [{ name: provider, baseURL: s.url, concurrentUnits: 1, timeoutMs: 10_000 }] });
  const sampling = createSamplingActivities({ store: new CorpusStore(duck, dataDir), generatorFor: () => generator });
  const first = new MockActivityEnvironment({ heartbeatTimeoutMs: 10_000 });
  const attempt = first.run(sampling.sampleUnit, input);
  // One request at a time, 40 ms each: cancel after about three of the nine.
  await new Promise((r) => setTimeout(r, 140));
  first.cancel();
  await assert.rejects(attempt);
  await new Promise((r) => setTimeout(r, 100)); // the request in flight at the cancel is answered (and paid for) all the same
  const sentBefore = s.stats().served;
  assert.ok(sentBefore >= 1 && sentBefore < 9, `${sentBefore} requests before the cancel`);
  const { UnitJournal } = await import('../../datasets/journal');
  const store = new CorpusStore(duck, dataDir);
  const journaled = new Set(
    new UnitJournal<{ flat: number }>(store.journalPath(spec.corpus, 'samples', { model: 'm1', source: provider }, unit.unitId)).recover().map((l) => l.flat),
  );
  // Whole answers only: a request's 8 (or 4) samples are journaled together or not at all.
  const missing = Array.from({ length: 60 }, (_, flat) => flat).filter((f) => !journaled.has(f));
  const expectedRequests = groupRequests(
    missing.map((flat) => ({ flat, promptId: '', promptIndex: Math.floor(flat / 20), sampleIndex: flat % 20, prompt: '', seed: null })),
    8,
  ).length;
  const done: { rows: number; resumedFrom: number } = await new MockActivityEnvironment({ heartbeatTimeoutMs: 10_000 }).run(sampling.sampleUnit, input);
  assert.equal(done.rows, 60);
  assert.equal(done.resumedFrom, journaled.size);
  assert.ok(done.resumedFrom > 0 && done.resumedFrom < 60, `resumed from ${done.resumedFrom}`);
  assert.ok([0, 8, 16].includes(journaled.size % 20), `journaled ${journaled.size}: whole requests of 8, 8, 4 per prompt`);
  assert.equal(s.stats().served - sentBefore, expectedRequests, 'the second attempt sent only the requests of the missing samples');
  const got = await rows('n-cancelled', provider);
  assert.equal(new Set(got.map((r) => r.key)).size, 60);
  assert.equal(got.length, 60);
});
