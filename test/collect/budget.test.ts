/**
 * Budgets: a run with `budget: { usd }` smaller than its cost stops before the budget with whole
 * units kept ("budget reached", resumable); `met status` shows spent vs budget; `met resume RUN
 * --budget-usd N` finishes it with every sample exactly once. Against `met serve`, real Temporal.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { launchCollection } from '../../client/collect';
import { loadRunRecord } from '../../client/runs';
import { sampleCostBound } from '../../collect/estimate';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import type { ProviderWorkerSpec } from '../../config/workers';
import { quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import type { CollectResult } from '../../collect/plan';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { exited, spawnMet } from '../helpers/processes';
import { uniqueName, withPlanWorkers, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-budget-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    serve = await startServe({ backend: new TextGeneratorBackend(), seed: 3 });
  },
});
let serve: RunningServe;
const prices = { inputPerMillion: 100, outputPerMillion: 300 };

after(async () => {
  await serve?.close();
});

async function recorded(corpus: string) {
  return withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT count(*)::BIGINT AS n, count(DISTINCT (prompt_id, sample_index))::BIGINT AS keys, count(DISTINCT unit_id)::BIGINT AS units,
              sum(prompt_tokens)::DOUBLE AS p, sum(completion_tokens)::DOUBLE AS c, count(prompt_tokens)::BIGINT AS reported
       FROM read_parquet(${quotedString(join(kindDir(dataDir, corpus, 'samples'), '*', '*', 'part-*.parquet'))}, hive_partitioning = true)`,
    );
    const row = r.getRowObjects()[0];
    const usd = (Number(row.p) * prices.inputPerMillion + Number(row.c) * prices.outputPerMillion) / 1e6;
    return { rows: Number(row.n), keys: Number(row.keys), units: Number(row.units), reported: Number(row.reported), usd };
  });
}

const cli = async (args: string[]) => {
  const child = spawnMet([...args, '--address', temporal.address, '--namespace', temporal.namespace, '--data', dataDir]);
  const code = await exited(child);
  return { code, out: child.output() };
};

test('a budget stops the run before it with whole units kept; met resume --budget-usd finishes it exactly once', { timeout: 180_000 }, async () => {
  const provider = uniqueName('priced');
  const corpus = uniqueName('budget');
  const prompts = Array.from({ length: 4 }, (_, i) => ({ id: `p${i}`, text: `Prompt number ${i}: tell me about the sea and the ships on it.` }));
  const base = {
    corpus,
    prompts: { inline: prompts },
    samplesPerPrompt: 40,
    unitSize: 10,
    window: 2,
    sampling: { maxTokens: 16 },
    sources: [{ kind: 'provider', provider, model: 'm1', baseURL: serve.url }],
  };
  const unitBound = 10 * sampleCostBound(prices, prompts[0].text, parseRunSpec(base).sampling);
  // 16 units; their bounds sum to about 2.6x what they cost on met serve, so 4.5 bounds is under the whole run.
  const budgetUsd = 4.5 * unitBound;
  const spec = parseRunSpec({ ...base, budget: { usd: budgetUsd } });
  assert.equal(runIdOf(spec), runIdOf(parseRunSpec(base)), 'the budget is not part of the run id');
  const workers: ProviderWorkerSpec[] = [{ name: provider, concurrentUnits: 2, timeoutMs: 10_000, allowSpecBaseURL: true, prices }];
  const taskQueue = uniqueName('budget-cpu');
  const plans = [cpuWorkerPlan({ dataDir, duck, taskQueue }), ...providerWorkerPlans({ dataDir, duck, providers: workers, env: {} })];

  await withPlanWorkers(temporal, plans, async () => {
    const { record } = await launchCollection(temporal.client, dataDir, spec, taskQueue);
    const first = (await temporal.client.workflow.getHandle(record.workflowId).result()) as CollectResult;
    assert.equal(first.budget?.reached, true, JSON.stringify(first));
    const stopped = await recorded(corpus);
    assert.ok(stopped.rows > 0 && stopped.rows < 160, `stopped with ${stopped.rows} of 160 rows`);
    assert.equal(stopped.rows, stopped.units * 10, 'only whole units are kept');
    assert.equal(stopped.rows, stopped.keys);
    assert.equal(stopped.reported, stopped.rows, 'every row carries the usage met serve reported');
    assert.ok(stopped.usd <= budgetUsd, `recorded cost ${stopped.usd} is within the budget ${budgetUsd}`);
    assert.ok(
      Math.abs(first.budget.spentUsd - stopped.usd) < 1e-9,
      `the workflow's spent (${first.budget.spentUsd}) is the recorded usage at the worker's prices (${stopped.usd})`,
    );
    // It stopped because the next unit could not fit, not early: one more unit's bound would pass the budget.
    assert.ok(stopped.usd + unitBound > budgetUsd, `spent ${stopped.usd} + a unit's bound ${unitBound} <= ${budgetUsd}: it stopped too early`);
    const shardTimes = new Map(listShardTimes(corpus));

    const status = await cli(['status', record.runId]);
    assert.equal(status.code, 0, status.out);
    assert.match(
      status.out,
      new RegExp(`budget: \\$${stopped.usd.toFixed(4).replace('.', '\\.')} spent of \\$${budgetUsd.toFixed(4).replace('.', '\\.')}; budget reached`),
      status.out,
    );

    const resumed = await cli(['resume', record.runId, '--budget-usd', String(20 * unitBound), '--wait']);
    assert.equal(resumed.code, 0, resumed.out);
    assert.match(resumed.out, /Resumed run .* with a budget of \$/);
    assert.match(resumed.out, /Run .* completed\. Spent \$[\d.]+ of a \$[\d.]+ budget\./);
    const final = (await temporal.client.workflow.getHandle(record.workflowId).result()) as CollectResult;
    assert.equal(final.rows, 160);
    assert.equal(final.budget?.reached, false);
    const done = await recorded(corpus);
    assert.deepEqual({ rows: done.rows, keys: done.keys, units: done.units }, { rows: 160, keys: 160, units: 16 }, 'every sample exactly once');
    assert.ok(done.usd <= 20 * unitBound);
    for (const [file, mtime] of shardTimes) assert.equal(listShardTimes(corpus).find(([f]) => f === file)?.[1], mtime, `${file} was kept, not rewritten`);
    assert.equal(
      ((await loadRunRecord(dataDir, record.runId)).input as { spec: { budget: { usd: number } } }).spec.budget.usd,
      20 * unitBound,
      'the record keeps the raised budget',
    );
  });
});

function listShardTimes(corpus: string): [string, number][] {
  const dir = join(kindDir(dataDir, corpus, 'samples'), 'model=m1');
  const out: [string, number][] = [];
  for (const sub of readdirSync(dir))
    for (const f of readdirSync(join(dir, sub))) if (f.startsWith('part-')) out.push([join(sub, f), statSync(join(dir, sub, f)).mtimeMs]);
  return out;
}

test('an audit budget is per firing, split evenly over its endpoints', async () => {
  const { parseAuditSpec, planFiring } = await import('../../config/auditSpec');
  const spec = parseAuditSpec({
    name: 'b',
    corpus: 'b',
    reference: { kind: 'local', model: 'tiny', precision: 'fp32' },
    endpoints: [
      { kind: 'provider', provider: 'x', model: 'm' },
      { kind: 'provider', provider: 'y', model: 'm' },
    ],
    prompts: { inline: [{ id: 'p', text: 't' }] },
    samplesPerPrompt: 2,
    schedule: { interval: '1h' },
    budget: { usd: 3 },
  });
  const plan = planFiring(spec, '20260101T000000Z-abc');
  assert.deepEqual(
    plan.collections.map((c) => c.spec.budget?.usd),
    [undefined, 1.5, 1.5],
    'the local reference costs nothing; each endpoint gets half',
  );
  const unbudgeted = planFiring({ ...spec, budget: undefined }, '20260101T000000Z-abc');
  assert.ok(unbudgeted.collections.every((c) => !('budget' in c.spec) || c.spec.budget === undefined));
});
