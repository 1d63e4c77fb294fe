/**
 * Issue #30, the billing audit: an audit with `billing` compares, per endpoint and firing, the
 * completion tokens an endpoint billed with what the claimed model's own tokenizer (a model worker
 * of the tiny F32 model) counts in the same completions. Two `met serve` stand-ins of the same
 * weights: one bills what it generated, the other 20% more (--inflate-completion-tokens 0.2). One
 * firing: the inflating one's ratio is over maxRatio and alerts, the honest one's is not.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { auditHistory, createAudit, deleteAudit, describeAudit } from '../../client/audits';
import { auditState } from '../../client/console';
import { parseAuditSpec } from '../../config/auditSpec';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { startServe, type RunningServe } from '../../serve/server';
import { auditFiring } from '../../workflows/auditFiring';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';
import { exited, spawnMet } from '../helpers/processes';
import { collectRun } from '../helpers/audit';

let temporal: TestTemporal;
let duck: DuckDBInstance;
let f32: LlamaBackend;
let honest: RunningServe;
let inflating: RunningServe;
const model = uniqueName('tiny');
const dataDir = useTestEnv('met-audit-billing-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    const paths = writeTinyModels(join(dataDir, 'models'));
    f32 = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model });
    honest = await startServe({ backend: f32, claimModel: model });
    inflating = await startServe({ backend: f32, claimModel: model, faults: { inflateCompletionTokens: 0.2 } });
  },
  beforeClose: async () => {
    await honest?.close();
    await inflating?.close();
    await f32?.close();
  },
});

test('a billing check needs a tokenizer: the local reference by default, else billing.tokenizer', () => {
  const base = {
    name: 'a',
    corpus: 'c',
    endpoints: [{ kind: 'provider', provider: 'p', model: 'tiny' }],
    prompts: { set: 'demo' },
    samplesPerPrompt: 5,
    schedule: { interval: '1h' },
    billing: {},
  };
  assert.throws(
    () => parseAuditSpec({ ...base, reference: { kind: 'corpus', corpus: 'c', model: 'tiny', source: 'ref' } }),
    /give billing.tokenizer \{model, precision\}/,
  );
  const local = parseAuditSpec({ ...base, reference: { kind: 'local', model: 'tiny', precision: 'fp32' } });
  assert.deepEqual(local.billing, { maxRatio: 1.05 });
  assert.throws(() => parseAuditSpec({ ...base, reference: { kind: 'local', model: 'tiny', precision: 'fp32' }, billing: { maxRatio: 0.9 } }), /maxRatio/);
});

test('the endpoint billing 20% more completion tokens than it generated is flagged and alerts; the honest one is not', { timeout: 180_000 }, async () => {
  const cpuQueue = uniqueName('audit-billing-cpu');
  const providers = [
    { name: uniqueName('honest'), baseURL: honest.url, concurrentUnits: 2, timeoutMs: 10_000 },
    { name: uniqueName('inflating'), baseURL: inflating.url, concurrentUnits: 2, timeoutMs: 10_000 },
  ];
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue }),
    ...modelWorkerPlans({ dataDir, duck, backend: f32, gpu: 'cpu' }),
    ...providerWorkerPlans({ dataDir, duck, providers, env: {} }),
  ];
  const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
  const running = workers.map((w) => w.run());
  try {
    const sampling = { maxTokens: 16, temperature: 1 };
    const prompts = { set: 'demo', limit: 4 };
    await collectRun(temporal, cpuQueue, {
      corpus: 'audit-billing',
      prompts,
      samplesPerPrompt: 10,
      sampling,
      sources: [{ kind: 'local', model, precision: 'fp32', source: 'reference' }],
    });
    const spec = parseAuditSpec({
      name: uniqueName('billing'),
      corpus: 'audit-billing',
      reference: { kind: 'corpus', corpus: 'audit-billing', model, source: 'reference' },
      endpoints: providers.map((p) => ({ kind: 'provider', provider: p.name, model })),
      prompts,
      samplesPerPrompt: 10,
      sampling,
      b: 100,
      billing: { tokenizer: { model, precision: 'fp32' } },
      schedule: { interval: '1h' },
    });
    const result = await temporal.client.workflow.execute(auditFiring, { taskQueue: cpuQueue, workflowId: uniqueName('firing'), args: [{ spec }] });
    const rows = (await auditHistory(duck, dataDir, spec)).rows;
    const of = (p: { name: string }) => rows.find((r) => r.endpoint === `${model}/${p.name}`)!;
    const [h, x] = providers.map(of);
    console.log(
      `billed/counted: honest ${h.completionTokens}/${h.countedCompletionTokens} = ${h.billingRatio?.toFixed(3)}, inflating ${x.completionTokens}/${x.countedCompletionTokens} = ${x.billingRatio?.toFixed(3)}`,
    );
    for (const r of [h, x]) assert.equal(r.billingMaxRatio, 1.05);
    // Both sampled the same weights: the counted tokens are the same size, only the bill differs.
    assert.ok(h.billingRatio! > 0.95 && h.billingRatio! <= 1.05, `honest ratio ${h.billingRatio}`);
    assert.ok(x.billingRatio! > 1.15 && x.billingRatio! < 1.25, `inflating ratio ${x.billingRatio}`);
    // One alert, the inflating endpoint's billing one (the same weights: no verdict changed).
    assert.deepEqual(
      result.alerts.map((a) => a.alertId),
      [`${spec.name}/${x.firingId}/${x.endpoint}/billing`],
    );
    assert.deepEqual(
      result.results.map((r) => [r.endpoint, (r.billingRatio ?? 0) > 1.05]),
      providers.map((p, i) => [`${model}/${p.name}`, i === 1]),
    );
    // The API's audit view (GET /v1/audits/{name}, the console's) carries the ratio and the threshold per firing.
    await createAudit(temporal.client, spec, { paused: true, taskQueue: cpuQueue });
    const state = await auditState(
      { client: temporal.client, runs: dataDir, duck: async () => duck, readRoot: async () => dataDir },
      await describeAudit(temporal.client, spec.name),
    );
    assert.deepEqual(
      state.firings.map((f) => [f.endpoint, f.billingRatio, f.billingMaxRatio]),
      [h, x].map((r) => [r.endpoint, r.billingRatio, 1.05]),
    );
    // met audit show: the billed/counted column, marked over maxRatio; its page the same.
    const child = spawnMet(['audit', 'show', spec.name, '--html', '--address', temporal.address, '--namespace', temporal.namespace, '--data', dataDir]);
    assert.equal(await exited(child), 0, child.output());
    const lines = child.output().split('\n');
    assert.ok(
      lines.some((l) => l.includes('billed/counted')),
      child.output(),
    );
    const line = (r: typeof h) => lines.find((l) => l.includes(r.endpoint) && !l.includes('->')) ?? '';
    assert.ok(line(h).includes(h.billingRatio!.toFixed(3)) && !line(h).includes('>'), line(h));
    assert.ok(line(x).includes(`${x.billingRatio!.toFixed(3)} > 1.05`), line(x));
    const page = readFileSync(join(dataDir, 'reports', `audit-${spec.name}`, 'index.html'), 'utf8');
    assert.match(page, new RegExp(`<td>${x.billingRatio!.toFixed(3)} \\(over 1.05\\)</td>`));
    await deleteAudit(temporal.client, spec.name);
  } finally {
    workers.forEach((w) => w.shutdown());
    await Promise.all(running);
  }
});
