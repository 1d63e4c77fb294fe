import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { buildApi } from '../../api/server';
import { newRunRecord, retryingSteps, rootCauseText, runState } from '../../client/runs';
import { toApplicationFailure } from '../../common/failures';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { withConnection } from '../../datasets/duck';
import { collectCorpus } from '../../workflows/collectCorpus';
import { failureClassInterceptors } from '../../workers/failureClasses';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { useTestEnv } from '../helpers/env';
import { waitUntil } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';

/**
 * Issue #28: every failure has a class decided on purpose (common/failures.ts, workers/failureClasses.ts).
 * An error of no known class is retried a few times, visibly in met status, then surfaced; a
 * provider that ignores max_tokens fails the run at once naming it; DuckDB's disk-full is MetDiskFull
 * at once, with no worker path in it; a prompt with a control character is refused before anything runs.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-failclass-', (env) => ({ temporal, duck } = env));

test("DuckDB's own disk-full error (a COPY to /dev/full) is MetDiskFull at once, without the path", async () => {
  const err = await withConnection(duck, (c) => c.run(`COPY (SELECT repeat('x', 100000) AS s FROM range(100)) TO '/dev/full' (FORMAT csv)`)).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof Error, 'DuckDB wrote to /dev/full?');
  assert.match(err.message, /No space left on device/);
  const failure = toApplicationFailure(err);
  assert.ok(failure instanceof ApplicationFailure);
  assert.equal(failure.type, 'MetDiskFull');
  assert.equal(failure.nonRetryable, true);
  assert.ok(!failure.message.includes('/dev/full'), failure.message);
  assert.match(failure.message, /\.\.\.\/full/);
});

test('an unknown error is retried visibly (met status within 10 s), then fails for good naming itself', { timeout: 90_000 }, async () => {
  const taskQueue = uniqueName('unknown-cpu');
  const activities = {
    ...cpuWorkerPlan({ dataDir, duck, taskQueue }).activities,
    async prepareRun(): Promise<never> {
      throw new RangeError('the prompt is longer than the context size (4096 tokens)');
    },
  };
  const worker = await temporal.createWorker({ taskQueue, activities, interceptors: failureClassInterceptors });
  const running = worker.run();
  try {
    const spec = parseRunSpec({
      corpus: 'unknown',
      prompts: { inline: [{ id: 'p0', text: 'a' }] },
      samplesPerPrompt: 1,
      sources: [{ kind: 'provider', provider: 'nobody', model: 'm' }],
    });
    const record = {
      ...newRunRecord({ job: 'collectCorpus', input: { spec, runId: runIdOf(spec) } }, runIdOf(spec), { taskQueue }),
      workflowId: uniqueName('unknown'),
    };
    const started = Date.now();
    await temporal.client.workflow.start(collectCorpus, { taskQueue, workflowId: record.workflowId, args: [{ spec, runId: runIdOf(spec) }] });
    let warning = '';
    await waitUntil(
      'a retry warning in met status',
      async () => {
        warning = (await retryingSteps(temporal.client, record)).join('\n');
        return warning.length > 0;
      },
      10_000,
    );
    console.log(`warning after ${Date.now() - started} ms: ${warning}`);
    assert.match(warning, /prepareRun is on attempt 2; last failure: RangeError: the prompt is longer than the context size/);
    const result = await temporal.client.workflow
      .getHandle(record.workflowId)
      .result()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const cause = rootCauseText(result);
    assert.match(
      cause,
      /RangeError: the prompt is longer than the context size \(4096 tokens\) \(an unexpected error, the same on 3 tries: not retried further\)/,
    );
    const state = await runState(temporal.client, record);
    assert.equal(state.status, 'FAILED');
    assert.ok(Date.now() - started < 30_000);
  } finally {
    worker.shutdown();
    await running;
  }
});

test('a provider that ignores max_tokens fails the run at once, naming the provider; the unit is not retried', { timeout: 90_000 }, async () => {
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    requests += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'c',
        object: 'text_completion',
        created: 1,
        model: 'm',
        choices: [{ index: 0, text: 'z'.repeat(100_000), finish_reason: 'length' }],
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const provider = uniqueName('verbose');
  const taskQueue = uniqueName('verbose-cpu');
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue }),
    ...providerWorkerPlans({
      dataDir,
      duck,
      env: {},
      providers: [{ name: provider, baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, concurrentUnits: 1, timeoutMs: 5000 }],
    }),
  ];
  const workers = await Promise.all(
    plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, interceptors: failureClassInterceptors, ...p.options })),
  );
  const running = workers.map((w) => w.run());
  try {
    const spec = parseRunSpec({
      corpus: 'verbose',
      prompts: { inline: [{ id: 'p0', text: 'a' }] },
      samplesPerPrompt: 1,
      sampling: { maxTokens: 16 },
      sources: [{ kind: 'provider', provider, model: 'm' }],
    });
    const started = Date.now();
    const handle = await temporal.client.workflow.start(collectCorpus, {
      taskQueue,
      workflowId: uniqueName('verbose'),
      args: [{ spec, runId: runIdOf(spec) }],
    });
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(rootCauseText(err), new RegExp(`MetProviderRequest: ${provider} ignored max_tokens: a completion of 100,000 characters for max_tokens 16`));
    assert.equal(requests, 1, 'one request: not retried');
    assert.ok(Date.now() - started < 30_000);
  } finally {
    workers.forEach((w) => w.shutdown());
    await Promise.all(running);
    server.close();
  }
});

test('a NUL or ESC in a prompt id or text is refused at the API, naming the prompt, before any workflow starts', async () => {
  const app = await buildApi({
    client: temporal.client,
    dataDir,
    address: temporal.address,
    namespace: temporal.namespace,
    taskQueue: uniqueName('nobody'),
    requestTimeoutMs: 2000,
  });
  try {
    for (const prompt of [
      { id: 'p\u0000', text: 'a' },
      { id: 'p\u001b[2J', text: 'a' },
      { id: 'p1', text: 'a\u0000b' },
      { id: 'p2', text: 'clear\u001b[2J' },
    ]) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/runs',
        payload: { corpus: 'ctl', prompts: { inline: [prompt] }, samplesPerPrompt: 1, sources: [{ kind: 'provider', provider: 'p', model: 'm' }] },
      });
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.body, /holds a control character/);
      assert.ok(!/[\u0000\u001b]/.test(res.body), 'the answer quotes it escaped');
    }
  } finally {
    await app.close();
  }
});
