/**
 * Issue #30, attribution through the API: POST /v1/identify and its page, POST /v1/identify/report,
 * on a corpus built as `met demo` builds its own (the tiny model at F32, Q8_0 and Q4_0 sampled
 * locally; endpoint-a a `met serve` of F32 and endpoint-b one of Q4_0, both claiming F32; 10 demo
 * prompts x 24 samples of 16 tokens at temperature 1), each endpoint tested against the three
 * local precisions with MMD-Hamming, Holm-corrected.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { startApi } from '../../api/server';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { startServe, type RunningServe } from '../../serve/server';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const backends: LlamaBackend[] = [];
const serves: RunningServe[] = [];
const taskQueue = uniqueName('identify-api-cpu');
const model = uniqueName('tiny');
const corpus = 'demo-10x24';
const dataDir = useTestEnv('met-identify-api-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    const paths = writeTinyModels(join(dataDir, 'models'));
    for (const precision of ['fp32', 'int8', 'nf4'] as const) backends.push(await loadLlamaBackend({ path: paths[precision], precision, model }));
    // As met demo: endpoint-a serves F32, endpoint-b Q4_0, both claiming F32.
    serves.push(await startServe({ backend: backends[0], claimModel: `${model}-F32`, seed: 1 }));
    serves.push(await startServe({ backend: backends[2], claimModel: `${model}-F32`, seed: 2 }));
  },
  beforeClose: async () => {
    for (const s of serves) await s.close();
    for (const b of backends) await b.close();
  },
});

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test(
  'POST /v1/identify on the demo corpus: Q4_0 alone for endpoint-b; F32 for endpoint-a, beside Q8_0 (which 240 samples cannot tell from it); its page says the same',
  { timeout: 400_000 },
  async () => {
    const providers = ['endpoint-a', 'endpoint-b'].map((name, i) => ({
      name: uniqueName(name),
      baseURL: serves[i].url,
      concurrentUnits: 2,
      timeoutMs: 30_000,
    }));
    const plans = [
      cpuWorkerPlan({ dataDir, duck, taskQueue }),
      ...backends.flatMap((backend) => modelWorkerPlans({ dataDir, duck, backend, gpu: 'cpu' })),
      ...providerWorkerPlans({ dataDir, duck, providers, env: {} }),
    ];
    const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
    const running = workers.map((w) => w.run());
    const api = await startApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, port: 0, taskQueue });
    try {
      const spec = parseRunSpec({
        corpus,
        prompts: { set: 'demo', limit: 10 },
        samplesPerPrompt: 24,
        sampling: { maxTokens: 16, temperature: 1 },
        sources: [
          ...(['fp32', 'int8', 'nf4'] as const).map((precision) => ({ kind: 'local' as const, model, precision })),
          ...providers.map((p, i) => ({ kind: 'provider' as const, provider: p.name, model, source: i === 0 ? 'endpoint-a' : 'endpoint-b', concurrency: 4 })),
        ],
        unitSize: 120,
      });
      await temporal.client.workflow.execute(collectCorpus, { taskQueue, workflowId: uniqueName('demo-collect'), args: [{ spec, runId: runIdOf(spec) }] });

      const question = (endpoint: string) => ({
        y: { corpus, model, source: endpoint },
        candidates: ['fp32', 'int8', 'nf4'].map((source) => ({ model, source })),
        b: 500,
        L: 200,
      });
      const answers: Record<
        string,
        { notRejected: string[]; candidates: { candidate: string; pvalue: number; adjusted: number; rejected: boolean; undefinedNulls: number }[] }
      > = {};
      for (const endpoint of ['endpoint-a', 'endpoint-b']) {
        const res = await post(`${api.url}/v1/identify`, question(endpoint));
        assert.equal(res.status, 200, await res.clone().text());
        answers[endpoint] = (await res.json()) as (typeof answers)[string];
        const shown = answers[endpoint].candidates.map((c) => `${c.candidate} p = ${c.pvalue.toFixed(4)} adj ${c.adjusted.toFixed(4)}`).join('; ');
        console.log(`${endpoint}: not rejected ${answers[endpoint].notRejected.join(', ') || 'none'} (${shown})`);
      }
      // Q8_0 is F32 to within what 240 samples show (met demo's power grid finds it rarely): identify
      // honestly leaves both standing for endpoint-a, and rejects Q4_0. Endpoint-b is Q4_0 and nothing else.
      const a = answers['endpoint-a'].notRejected;
      assert.ok(a.includes(`${model}/fp32`) && !a.includes(`${model}/nf4`), `endpoint-a: ${a.join(', ')}`);
      assert.deepEqual(answers['endpoint-b'].notRejected, [`${model}/nf4`]);
      for (const c of answers['endpoint-b'].candidates) assert.equal(c.rejected, c.adjusted <= 0.05);

      // The page: the same decision per candidate, as met's report renders it.
      const page = await post(`${api.url}/v1/identify/report`, question('endpoint-b'));
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/);
      const html = await page.text();
      assert.match(html, new RegExp(`Not rejected: <strong>${model}/nf4</strong>`));
      for (const c of answers['endpoint-b'].candidates)
        assert.match(html, new RegExp(`<td>${c.candidate}</td><td><span class="badge ${c.rejected ? 'differs">rejected' : 'consistent">not rejected'}</span>`));
      assert.match(html, /<svg/);
      if (answers['endpoint-a'].notRejected.length > 1) {
        const pageA = await (await post(`${api.url}/v1/identify/report`, question('endpoint-a'))).text();
        assert.match(pageA, new RegExp(`These ${answers['endpoint-a'].notRejected.length} candidates cannot be told apart from the endpoint`));
      }

      // A question the schema refuses names the field; the OpenAPI document lists both routes.
      const bad = await post(`${api.url}/v1/identify`, { ...question('endpoint-a'), candidates: [{ model, source: 'fp32' }] });
      assert.equal(bad.status, 400);
      assert.match(await bad.text(), /candidates.*at least two/);
      const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as { paths: Record<string, { post?: unknown }> };
      assert.ok(doc.paths['/v1/identify']?.post && doc.paths['/v1/identify/report']?.post);
    } finally {
      await api.close();
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
    }
  },
);
