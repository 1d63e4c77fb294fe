import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { faultToFailure, MIN_RETRY_DELAY_MS, retryAfterMs } from '../../providers/errors';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

/**
 * "Retry-After: 0" (and retry-after-ms: 0, an HTTP date in the past) means "retry now". Passed to
 * Temporal as nextRetryDelay 0 it ended the unit's retries on attempt 1 and failed the run.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-retry-after-', (env) => ({ temporal, duck } = env));

/** Answers 429 with `headers` to the first `failures` requests, then completions. */
async function flaky(failures: number, headers: Record<string, string>): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n += 1;
      res.setHeader('content-type', 'application/json');
      if (n <= failures) {
        res.writeHead(429, headers);
        res.end(JSON.stringify({ error: { message: 'slow down', type: 'requests' } }));
        return;
      }
      res.end(
        JSON.stringify({
          id: `c${n}`,
          object: 'text_completion',
          created: 0,
          model: 'm',
          choices: [{ index: 0, text: ' ok', finish_reason: 'stop', logprobs: null }],
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, requests: () => n, close: () => new Promise((r) => server.close(() => r())) };
}

test('a zero or past Retry-After becomes a small positive delay, never nextRetryDelay 0', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const zeros: Record<string, string>[] = [
    { 'retry-after': '0' },
    { 'retry-after-ms': '0' },
    { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' },
    { 'retry-after-ms': '-5' },
    { 'x-ratelimit-reset-requests': '0s' },
  ];
  for (const h of zeros) {
    assert.equal(retryAfterMs(new Headers(h), now), MIN_RETRY_DELAY_MS, JSON.stringify(h));
  }
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '2' }), now), 2000);
  const failure = faultToFailure({ kind: 'rate_limited', retryable: true, retryAfterMs: 0, message: 'x' });
  assert.ok((failure.nextRetryDelay as number) >= MIN_RETRY_DELAY_MS, String(failure.nextRetryDelay));
});

for (const [label, headers] of [
  ['Retry-After: 0', { 'retry-after': '0' }],
  ['retry-after-ms: 0', { 'retry-after-ms': '0' }],
  ['a past HTTP date', { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }],
] as const) {
  test(`a provider answering 429 with ${label} more often than a unit retries a sample still completes the run`, { timeout: 60_000 }, async () => {
    // 12 failures: more than the 8 tries a sample gets inside a unit, so the unit itself must be retried.
    const server = await flaky(12, headers);
    const provider = uniqueName('zero-retry');
    try {
      const spec = parseRunSpec({
        corpus: uniqueName('ra'),
        prompts: { set: 'demo', limit: 1 },
        samplesPerPrompt: 1,
        sampling: { maxTokens: 4 },
        sources: [{ kind: 'provider', provider, model: 'm1', concurrency: 1 }],
      });
      const taskQueue = uniqueName('ra-cpu');
      const plans = [
        cpuWorkerPlan({ dataDir, duck, taskQueue }),
        ...providerWorkerPlans({ dataDir, duck, providers: [{ name: provider, baseURL: server.url, concurrentUnits: 1, timeoutMs: 2000 }], env: {} }),
      ];
      const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
      const handle = await temporal.client.workflow.start(collectCorpus, { taskQueue, workflowId: uniqueName('ra'), args: [{ spec, runId: runIdOf(spec) }] });
      const run = async () => {
        try {
          return await handle.result();
        } finally {
          workers.forEach((w) => w.shutdown());
        }
      };
      const [outcome] = await Promise.allSettled([run(), ...workers.map((w) => w.run())]);
      if (outcome.status === 'rejected') throw outcome.reason;
      assert.equal(outcome.value.rows, 1);
      assert.equal(server.requests(), 13);
    } finally {
      await server.close();
    }
  });
}
