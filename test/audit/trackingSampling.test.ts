/**
 * Issue #30, the tracking tier's baseline and an edited spec: a tracking firing notes how its probes
 * were asked (the endpoint kind and the system prompt) in its record, and a firing asked otherwise
 * than the endpoint's baseline (the spec edited after it) fails, saying what changed and how to fix
 * it. Through the workflow auditFiring on the real dev server, against `met serve` (the tiny F32
 * model): the unchanged spec is tested as before; a system prompt edited, or the chat endpoint
 * swapped for completions, is refused before any probe is sent and records no row.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { WorkflowFailedError } from '@temporalio/client';
import { TrackingRecord } from '../../activities/tracking';
import { parseAuditSpec } from '../../config/auditSpec';
import { readAuditRows } from '../../datasets';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { startServe, type RunningServe } from '../../serve/server';
import { auditFiring } from '../../workflows/auditFiring';
import { providerWorkerPlans } from '../../workers/provider';
import { useTestEnv } from '../helpers/env';
import { uniqueName, type TestTemporal } from '../helpers/temporal';

let temporal: TestTemporal;
let duck: DuckDBInstance;
let f32: LlamaBackend;
let serve: RunningServe;
const model = uniqueName('tiny');
const provider = uniqueName('stand');
const cpuQueue = uniqueName('trk-sampling-cpu');
const dataDir = useTestEnv('met-audit-tracking-sampling-', (env) => ({ temporal, duck } = env), {
  cpuWorkerQueue: cpuQueue,
  setUp: async () => {
    f32 = await loadLlamaBackend({ path: writeTinyModels(join(dataDir, 'models')).fp32, precision: 'fp32', model });
    serve = await startServe({ backend: f32, claimModel: model });
  },
  beforeClose: async () => {
    await serve?.close();
    await f32?.close();
  },
});

const PROBES = ['The cat', 'Once', 'She said', 'A dog', 'We went', 'The sun'].map((text, i) => ({ id: `probe-${i}`, text }));

test(
  'a tracking firing asked through another endpoint kind or system prompt than its baseline fails, saying what changed; the unchanged spec is tested',
  { timeout: 120_000 },
  async () => {
    const plans = providerWorkerPlans({ dataDir, duck, env: {}, providers: [{ name: provider, baseURL: serve.url, concurrentUnits: 2, timeoutMs: 10_000 }] });
    const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
    const running = workers.map((w) => w.run());
    const name = uniqueName('trks');
    const corpus = 'tracking';
    const base = {
      name,
      corpus,
      endpoints: [{ kind: 'provider', provider, model }],
      prompts: { inline: PROBES },
      statistic: 'logprob_tracking',
      tracking: { probes: PROBES.length, topK: 5, baselineFirings: 1 },
      schedule: { interval: '1h' },
    };
    const chat = { endpoint: 'chat', systemPrompt: 'You are terse.', temperature: 0 };
    const fire = (sampling: Record<string, unknown>) =>
      temporal.client.workflow.execute(auditFiring, {
        taskQueue: cpuQueue,
        workflowId: uniqueName('trks-firing'),
        args: [{ spec: parseAuditSpec({ ...base, sampling }) }],
      });
    const failure = async (sampling: Record<string, unknown>) => {
      const sent = serve.stats().requests;
      const err = await fire(sampling).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof WorkflowFailedError, `the firing should fail: ${String(err)}`);
      const chain: string[] = [];
      for (let e: unknown = err; e instanceof Error; e = e.cause) chain.push(e.message);
      // Refused before its probes: the endpoint was not asked.
      assert.equal(serve.stats().requests, sent, 'a refused firing sent no probe');
      assert.match(chain.join(' | '), /\(no probe was sent\)/);
      return chain.join(' | ');
    };
    try {
      // The baseline (one firing) and an unchanged firing, tested against it: the same answers, p = 1.
      await fire(chat);
      const tested = await fire(chat);
      assert.deepEqual(
        tested.results.map((r) => [r.pValue, r.reject, r.verdict]),
        [[1, false, 'consistent']],
      );
      // The system prompt edited after the baseline: refused, both prompts named, the ways out said.
      assert.match(
        await failure({ ...chat, systemPrompt: 'You are verbose.' }),
        new RegExp(
          `audit ${name} changed since its baseline: the system prompt is "You are verbose\\." \\(16 characters\\), but the baseline firings \\(${name}\\.\\S+\\) were asked with "You are terse\\." \\(14 characters\\)\\. .*or start a new baseline: create the edited spec under a new audit name`,
        ),
      );
      // The endpoint kind swapped: refused, naming it.
      assert.match(
        await failure({ ...chat, endpoint: 'completions' }),
        new RegExp(
          `audit ${name} changed since its baseline: sampling\\.endpoint is completions, but the baseline firings \\(${name}\\.\\S+\\) asked the chat endpoint`,
        ),
      );
      // Two rows (the refused firings recorded none), each noting how its probes were asked.
      const rows = await readAuditRows(duck, dataDir, corpus, name);
      assert.deepEqual(
        rows.map((r) => {
          const record = TrackingRecord.parse(JSON.parse(r.tracking!));
          return [record.role, record.sampling];
        }),
        [
          ['baseline', { endpoint: 'chat', systemPrompt: 'You are terse.' }],
          ['test', { endpoint: 'chat', systemPrompt: 'You are terse.' }],
        ],
      );
    } finally {
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
    }
  },
);
