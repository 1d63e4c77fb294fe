import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { BatchState } from '../../activities/batch';
import type { AuditAlert } from '../../activities/audits';
import type { SampleUnitInput, UnitResult } from '../../activities/sampling';
import { workflowBundle } from '../../workers/bundle';
import { quietRuntime, uniqueName } from '../helpers/temporal';

/**
 * The timer logic of met's workflows on Temporal's time-skipping test server (issue #31): hours of
 * durable timers and retry backoff pass in seconds, beside the real-server tests that stay. The
 * server is the Java io.temporal:temporal-test-server from Maven Central
 * (scripts/ensure-temporal-test-server.sh), started by @temporalio/testing as an existing executable.
 * Activities here are stand-ins that record when the server scheduled them: the workflows are real.
 */
let env: TestWorkflowEnvironment;

before(async () => {
  quietRuntime();
  const launcher = execFileSync('bash', ['scripts/ensure-temporal-test-server.sh'], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: launcher } } });
});
after(async () => {
  await env?.teardown();
});

/** Runs `fn` while a worker with these activities polls a fresh queue. */
async function withWorker<T>(activities: object, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = uniqueName('skip');
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(), activities });
  return worker.runUntil(fn(taskQueue));
}

/**
 * The test server's clock, in seconds, read when an activity runs. (Its retries' scheduled times lag
 * one attempt behind, so activities ask the clock instead.)
 */
const serverNow = async () => (await env.currentTimeMs()) / 1000;

test('batchUnit polls a slow batch with durable timers growing 1.5x up to maxPollSeconds: 2.7 hours of batch in seconds', async () => {
  const polls: number[] = [];
  let submittedAt = 0;
  const doneAfterPolls = 12;
  const unit = { source: { kind: 'provider' } } as unknown as SampleUnitInput;
  const activities = {
    submitBatch: async () => {
      submittedAt = await serverNow();
      return { batchId: 'batch-1', requests: 5 };
    },
    pollBatch: async (): Promise<BatchState> => {
      polls.push(await serverNow());
      const status = polls.length >= doneAfterPolls ? 'completed' : 'in_progress';
      return { batchId: 'batch-1', status, total: 5, completed: 5, failed: 0, outputFileId: 'out-1', errorFileId: null };
    },
    collectBatch: async () => ({ added: 5 }),
    sampleUnit: async (): Promise<UnitResult> => ({ unitId: 'u', rows: 5, resumedFrom: 5, skipped: false }) as unknown as UnitResult,
  };
  const started = Date.now();
  const result = await withWorker(activities, (taskQueue) =>
    env.client.workflow.execute('batchUnit', {
      taskQueue,
      workflowId: uniqueName('batch'),
      args: [{ unit, taskQueue, heartbeatTimeoutSeconds: 30, pollSeconds: 60, maxPollSeconds: 1800 }],
    }),
  );
  assert.equal(result.batch.polls, doneAfterPolls);
  assert.equal(result.batch.status, 'completed');
  // The waits between polls: 60 s, then 1.5x each, capped at 1,800 s (what the workflow's doc says).
  const expected: number[] = [];
  for (let wait = 60, i = 0; i < doneAfterPolls; i++, wait = Math.min(wait * 1.5, 1800)) expected.push(wait);
  const gaps = polls.map((t, i) => t - (i === 0 ? submittedAt : polls[i - 1]));
  gaps.forEach((gap, i) =>
    assert.ok(
      Math.abs(gap - expected[i]) < 2,
      `wait ${i + 1}: ${gap.toFixed(1)} s, expected ${expected[i]} s (all: ${gaps.map((g) => g.toFixed(0)).join(', ')})`,
    ),
  );
  const skipped = polls.at(-1)! - submittedAt;
  const planned = expected.reduce((a, b) => a + b, 0);
  assert.ok(
    Math.abs(skipped - planned) < 2 * doneAfterPolls,
    `the batch took ${skipped.toFixed(0)} s of workflow time, the waits add up to ${planned.toFixed(0)} s`,
  );
  assert.ok(Date.now() - started < 60_000, `real time ${Date.now() - started} ms`);
});

test('deliverAuditAlert tries a dead webhook 20 times with backoff 2 s doubling to 10 min (about 2 hours), then fails naming the last answer', async () => {
  const attempts: number[] = [];
  const activities = {
    sendAuditAlert: async (): Promise<{ sent: boolean }> => {
      attempts.push(await serverNow());
      throw ApplicationFailure.create({ type: 'WebhookFailed', message: `webhook answered 503 (attempt ${attempts.length})`, nonRetryable: false });
    },
  };
  const alert = { alertId: 'a/f/e', audit: 'a', endpoint: 'e' } as AuditAlert;
  const started = Date.now();
  await assert.rejects(
    withWorker(activities, (taskQueue) => env.client.workflow.execute('deliverAuditAlert', { taskQueue, workflowId: uniqueName('alert'), args: [{ alert }] })),
    (err: Error & { cause?: Error }) => {
      const text = `${err.message} ${err.cause?.message ?? ''} ${(err.cause as { cause?: Error } | undefined)?.cause?.message ?? ''}`;
      assert.match(text, /webhook answered 503 \(attempt 20\)/);
      return true;
    },
  );
  assert.equal(attempts.length, 20);
  const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
  const expected = gaps.map((_, i) => Math.min(2 * 2 ** i, 600));
  gaps.forEach((gap, i) =>
    assert.ok(
      Math.abs(gap - expected[i]) < 2,
      `backoff ${i + 1}: ${gap.toFixed(1)} s, expected ${expected[i]} s (all: ${gaps.map((g) => g.toFixed(0)).join(', ')})`,
    ),
  );
  const span = attempts.at(-1)! - attempts[0];
  assert.ok(span > 1.9 * 3600 && span < 2.1 * 3600, `tries spread over ${(span / 3600).toFixed(2)} h`);
  assert.ok(Date.now() - started < 60_000, `real time ${Date.now() - started} ms`);
});
