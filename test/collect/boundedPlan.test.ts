import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server';
import { retryingSteps, saveRunRecord } from '../../client/runs';
import { collectionRecord } from '../helpers/records';
import { parseAuditSpec } from '../../config/auditSpec';
import { RUN_LIMITS } from '../../config/limits';
import { parseRunSpec, RunSpec, runIdOf } from '../../config/runSpec';
import { quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { mulberry32 } from '../../datasets/synthetic';
import { startServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { collectCorpus, type CollectProgress } from '../../workflows/collectCorpus';
import { providerWorkerPlans } from '../../workers/provider';
import { useTestEnv } from '../helpers/env';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';

/**
 * Issue #28: one request cannot jam the workers. A run's units are computed a page at a time
 * (collect/plan.ts unitAt, activities scanPage), run specs have documented maxima (config/limits.ts
 * RUN_LIMITS) refused with their numbers, and `met cancel` ends even a run whose workflow task fails.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const cpuQueue = uniqueName('bounded-cpu');
const dataDir = useTestEnv('met-bounded-', (env) => ({ temporal, duck } = env), { cpuWorkerQueue: cpuQueue });
const toStop: string[] = [];
after(async () => {
  for (const id of toStop)
    await temporal.client.workflow
      .getHandle(id)
      .terminate('test done')
      .catch(() => undefined);
});

const prompts = (n: number) => ({ inline: Array.from({ length: n }, (_, i) => ({ id: `p${i}`, text: `prompt ${i}` })) });
const provider = (i: number) => ({ kind: 'provider', provider: `nobody${i}`, model: 'm' });

test("the issue's request (20 prompts x 1,000,000 samples, units of 1) is refused with its numbers; a million samples per source still fit", () => {
  const huge = RunSpec.safeParse({ corpus: 'c', prompts: prompts(20), samplesPerPrompt: 1_000_000, unitSize: 1, sources: [provider(0)] });
  assert.equal(huge.success, false);
  assert.match(JSON.stringify(huge.error?.issues), /20,000,000 samples per source: a run draws at most 10,000,000 per source/);
  const units = RunSpec.safeParse({ corpus: 'c', prompts: prompts(1), samplesPerPrompt: 1_000_000, unitSize: 1, sources: [provider(0)] });
  assert.match(JSON.stringify(units.error?.issues), /1,000,000 work units: a run has at most 200,000 \(raise unitSize to 5 or more/);
  // A million samples per source, two sources, default units: accepted.
  const million = parseRunSpec({ corpus: 'c', prompts: prompts(1000), samplesPerPrompt: 1000, sources: [provider(0), provider(1)] });
  assert.equal(million.unitSize, 500);
  const sources = RunSpec.safeParse({
    corpus: 'c',
    prompts: prompts(1),
    samplesPerPrompt: 1,
    sources: Array.from({ length: RUN_LIMITS.sources + 1 }, (_, i) => provider(i)),
  });
  assert.match(JSON.stringify(sources.error?.issues), /a run has at most 64 sources/);
  const audit = {
    name: 'a',
    corpus: 'c',
    reference: { kind: 'corpus', corpus: 'c', model: 'm', source: 's' },
    prompts: prompts(2),
    samplesPerPrompt: 10,
    schedule: { interval: '1h' },
  };
  assert.throws(() => parseAuditSpec({ ...audit, endpoints: Array.from({ length: 65 }, (_, i) => provider(i)) }), /an audit has at most 64 endpoints/);
  assert.throws(
    () => parseAuditSpec({ ...audit, prompts: { set: 'demo', limit: 1_000_000 }, samplesPerPrompt: 100_000, endpoints: [provider(0)] }),
    /a firing: prompts.limit 1,000,000 x samplesPerPrompt 100,000/,
  );
  assert.ok(parseAuditSpec({ ...audit, endpoints: Array.from({ length: 64 }, (_, i) => provider(i)) }));
});

test('huge counts posted to POST /v1/runs: refused with the bound, or running within seconds with a bounded history (fuzz)', { timeout: 240_000 }, async () => {
  const app: FastifyInstance = await buildApi({
    client: temporal.client,
    dataDir,
    address: temporal.address,
    namespace: temporal.namespace,
    taskQueue: cpuQueue,
    requestTimeoutMs: 5000,
  });
  const rnd = mulberry32(28);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  let refused = 0;
  let accepted = 0;
  try {
    for (let trial = 0; trial < 40 && accepted < 5; trial++) {
      const promptCount = pick([1, 20, 1000, 10_000]);
      const body = {
        corpus: `huge${trial}`,
        prompts: rnd() < 0.5 ? prompts(promptCount) : { set: 'demo', limit: pick([20, 1_000_000, 10_000_000]) },
        samplesPerPrompt: pick([1, 1000, 100_000, 1_000_000, 10_000_000]),
        unitSize: pick([1, 5, 50, 500, 100_000]),
        window: pick([1, 256]),
        sources: Array.from({ length: pick([1, 2, 64, 65, 1000]) }, (_, i) => provider(i)),
      };
      const res = await app.inject({ method: 'POST', url: '/v1/runs', payload: body });
      const shown = `trial ${trial}: ${JSON.stringify({ ...body, prompts: 'set' in body.prompts ? body.prompts : `${promptCount} inline` })} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
      if (res.statusCode === 400) {
        refused += 1;
        assert.match(res.body, /at most [\d,]+/, shown);
        continue;
      }
      assert.equal(res.statusCode, 202, shown);
      accepted += 1;
      const { workflowId } = JSON.parse(res.body) as { workflowId: string };
      toStop.push(workflowId);
      const handle = temporal.client.workflow.getHandle(workflowId);
      // Running with every source's units planned (no source queue is polled: units wait there),
      // or refused by prepareRun once the set's size is known; never a workflow task that fails.
      let progress: CollectProgress | undefined;
      await waitUntil(
        `progress of ${shown}`,
        async () => {
          const d = await handle.describe();
          assert.ok((d.raw.pendingWorkflowTask?.attempt ?? 1) <= 1, `a workflow task failed: ${shown}`);
          if (d.status.name === 'FAILED') return true;
          progress = await handle.query<CollectProgress>('progress').catch(() => undefined);
          return progress?.status === 'running';
        },
        60_000,
      );
      const d = await handle.describe();
      if (d.status.name === 'FAILED') {
        const err = await handle.result().catch((e: unknown) => e as Error);
        assert.match(String((err as { cause?: Error }).cause?.message), /the run is too large: .* at most/, shown);
        continue;
      }
      const spec = RunSpec.parse(body);
      // The demo set holds 40 prompts: a larger limit reads 40.
      const perSource = ('set' in spec.prompts ? Math.min(40, spec.prompts.limit ?? 40) : promptCount) * spec.samplesPerPrompt;
      assert.deepEqual(
        progress!.sources.map((s) => s.total),
        spec.sources.map(() => perSource),
        shown,
      );
      assert.deepEqual(
        progress!.sources.map((s) => s.unitsTotal),
        spec.sources.map(() => Math.ceil(perSource / spec.unitSize)),
        shown,
      );
      assert.ok(progress!.sources.reduce((n, s) => n + s.unitsTotal, 0) <= RUN_LIMITS.units, shown);
      // The history holds the page, not the run: a few events per unit in flight.
      const events = (await handle.fetchHistory()).events?.length ?? 0;
      assert.ok(events < 30 + 3 * spec.window * spec.sources.length, `${events} events: ${shown}`);
      await handle.terminate('checked');
    }
  } finally {
    await app.close();
  }
  console.log(`fuzz: ${refused} refused, ${accepted} accepted`);
  assert.ok(refused >= 5 && accepted >= 2, `${refused} refused, ${accepted} accepted`);
});

test(
  'a run pages its units: 45 units, 10 per execution, resumed with 7 done, complete across continue-as-new with every key once',
  { timeout: 180_000 },
  async () => {
    const serve = await startServe({ backend: new TextGeneratorBackend() });
    try {
      const name = uniqueName('paged');
      const spec = parseRunSpec({
        corpus: 'paged',
        prompts: prompts(3),
        samplesPerPrompt: 15,
        unitSize: 1,
        window: 4,
        sampling: { maxTokens: 4 },
        sources: [{ kind: 'provider', provider: name, model: 'm1', baseURL: serve.url }],
      });
      const plans = providerWorkerPlans({ dataDir, duck, providers: [{ name, concurrentUnits: 16, timeoutMs: 5000, allowSpecBaseURL: true }], env: {} });
      const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
      const running = workers.map((w) => w.run());
      try {
        // A first run stops after its first execution (7 units); the same run id again finds them done.
        const runId = runIdOf(spec);
        const partial = await temporal.client.workflow.start(collectCorpus, {
          taskQueue: cpuQueue,
          workflowId: uniqueName('paged'),
          args: [{ spec, runId, unitsPerExecution: 7 }],
        });
        await waitUntil(
          'the first page',
          async () => (await temporal.client.workflow.getHandle(partial.workflowId, partial.firstExecutionRunId).describe()).status.name === 'CONTINUED_AS_NEW',
          60_000,
        );
        await partial.terminate('a resumed run picks it up');
        const handle = await temporal.client.workflow.start(collectCorpus, {
          taskQueue: cpuQueue,
          workflowId: uniqueName('paged'),
          args: [{ spec, runId, unitsPerExecution: 10 }],
        });
        const start = await waitForProgress(handle.workflowId);
        assert.ok(start.sources[0].unitsDone >= 7 && start.sources[0].done === start.sources[0].unitsDone, JSON.stringify(start.sources[0]));
        const result = await handle.result();
        assert.equal(result.rows, 45);
        // Follow the chain of executions: each started at most 10 units.
        let n = 0;
        for (let run: string | null | undefined = handle.firstExecutionRunId; run; n++) {
          const events: NonNullable<Awaited<ReturnType<typeof handle.fetchHistory>>['events']> =
            (await temporal.client.workflow.getHandle(handle.workflowId, run).fetchHistory()).events ?? [];
          const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'sampleUnit').length;
          assert.ok(scheduled <= 10, `${scheduled} units in one execution`);
          run = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
        }
        assert.ok(n >= 4, `${n} executions for 38 or fewer units at 10 per execution`);
        const keys = await withConnection(duck, async (c) => {
          const r = await c.runAndReadAll(
            `SELECT count(*)::BIGINT AS n, count(DISTINCT (prompt_id, sample_index))::BIGINT AS k FROM read_parquet(${quotedString(join(kindDir(dataDir, 'paged', 'samples'), '*', '*', 'part-*.parquet'))})`,
          );
          return r.getRowObjects()[0];
        });
        assert.deepEqual([Number(keys.n), Number(keys.k)], [45, 45]);
      } finally {
        workers.forEach((w) => w.shutdown());
        await Promise.all(running);
      }
    } finally {
      await serve.close();
    }
  },
);

async function waitForProgress(workflowId: string): Promise<CollectProgress> {
  let progress: CollectProgress | undefined;
  await waitUntil(
    'progress',
    async () => {
      progress = await temporal.client.workflow
        .getHandle(workflowId)
        .query<CollectProgress>('progress')
        .catch(() => undefined);
      return progress !== undefined && progress.status !== 'preparing';
    },
    60_000,
  );
  return progress!;
}

test('met cancel ends a run whose workflow task keeps failing (terminates it after a bounded wait, saying so)', { timeout: 180_000 }, async () => {
  const taskQueue = uniqueName('failing-task');
  const worker = await Worker.create({
    connection: temporal.nativeConnection,
    namespace: temporal.namespace,
    taskQueue,
    workflowsPath: join(import.meta.dirname, 'fixtures', 'failingTask.ts'),
  });
  const running = worker.run();
  try {
    const runId = uniqueName('jammed');
    const record = collectionRecord(runId, 'jammed', { taskQueue });
    await saveRunRecord(dataDir, record);
    await temporal.client.workflow.start('collectCorpus', { taskQueue, workflowId: record.workflowId, args: [{}] });
    const handle = temporal.client.workflow.getHandle(record.workflowId);
    await waitUntil('a failing workflow task', async () => ((await handle.describe()).raw.pendingWorkflowTask?.attempt ?? 0) >= 2, 60_000);
    // met status says so while it runs.
    const warnings = await retryingSteps(temporal.client, record);
    assert.ok(
      warnings.some((w) => /workflow's own task has failed \d+ time/.test(w)),
      warnings.join('\n'),
    );
    const started = Date.now();
    const cli = spawnMet(['cancel', runId, '--data', dataDir, '--address', temporal.address, '--namespace', temporal.namespace, '--wait-seconds', '3']);
    assert.equal(await exited(cli), 0, cli.output());
    assert.match(cli.output(), /did not stop when cancelled: terminated it.*workflow task has failed \d+ time/s);
    assert.equal((await handle.describe()).status.name, 'TERMINATED');
    assert.ok(Date.now() - started < 30_000);
  } finally {
    worker.shutdown();
    await running;
  }
});

test(
  "the console's Cancel (POST /v1/runs/{id}/cancel) ends a run whose workflow task keeps failing as met cancel does, and says it terminated it",
  { timeout: 180_000 },
  async () => {
    const taskQueue = uniqueName('failing-task-api');
    const worker = await Worker.create({
      connection: temporal.nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      workflowsPath: join(import.meta.dirname, 'fixtures', 'failingTask.ts'),
    });
    const running = worker.run();
    const app: FastifyInstance = await buildApi({
      client: temporal.client,
      dataDir,
      address: temporal.address,
      namespace: temporal.namespace,
      taskQueue: cpuQueue,
    });
    try {
      const runId = uniqueName('jammed-api');
      const record = collectionRecord(runId, 'jammed', { taskQueue });
      await saveRunRecord(dataDir, record);
      await temporal.client.workflow.start('collectCorpus', { taskQueue, workflowId: record.workflowId, args: [{}] });
      const handle = temporal.client.workflow.getHandle(record.workflowId);
      await waitUntil('a failing workflow task', async () => ((await handle.describe()).raw.pendingWorkflowTask?.attempt ?? 0) >= 2, 60_000);
      const started = Date.now();
      const r = await app.inject({ method: 'POST', url: `/v1/runs/${runId}/cancel?waitSeconds=3` });
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json<{ runId: string; cancelRequested: boolean; status: string; terminated: boolean; reason?: string }>();
      assert.deepEqual([body.runId, body.cancelRequested, body.status, body.terminated], [runId, true, 'TERMINATED', true]);
      assert.match(body.reason ?? '', /did not stop within 3 s of the cancellation request \(its workflow task has failed \d+ time/);
      assert.equal((await handle.describe()).status.name, 'TERMINATED');
      assert.ok(Date.now() - started >= 3000 && Date.now() - started < 30_000, `${Date.now() - started} ms`);
      // A run already ended is left as it is; a wait out of bounds is refused with its field.
      const again = (await app.inject({ method: 'POST', url: `/v1/runs/${runId}/cancel` })).json<{ status: string; terminated: boolean }>();
      assert.deepEqual([again.status, again.terminated], ['TERMINATED', false]);
      const tooLong = await app.inject({ method: 'POST', url: `/v1/runs/${runId}/cancel?waitSeconds=3600` });
      assert.equal(tooLong.statusCode, 400);
      assert.match(tooLong.json<{ message: string }>().message, /waitSeconds/);
    } finally {
      await app.close();
      worker.shutdown();
      await running;
    }
  },
);
