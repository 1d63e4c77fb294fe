/**
 * Audit activities without a server: the verdict rule over successive firings as stored in the
 * audits table (a retried firing recomputes the same row), and the webhook's delivery rules.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { type AuditAlert, createAuditActivities, type RecordFiringInput } from '../../activities/audits';
import type { TestOutcome } from '../../activities/tests';
import { createDuckDB, kindDir, readAuditRows } from '../../datasets';

let duck: DuckDBInstance;
let hook: Server;
let hookURL: string;
let nextStatus = 200;
const got: { body: unknown; key: unknown }[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'met-audit-activity-'));

before(async () => {
  duck = await createDuckDB();
  hook = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      got.push({ body: JSON.parse(text), key: req.headers['idempotency-key'] });
      res.writeHead(nextStatus).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookURL = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
});
after(async () => {
  await new Promise<void>((resolve) => hook.close(() => resolve()));
  duck?.closeSync();
  rmSync(dataDir, { recursive: true, force: true });
});

const outcome = (testId: string, pvalue: number): TestOutcome => ({
  testId,
  statistic: 'mmd_hamming',
  value: 0.1,
  pvalue,
  reject: pvalue <= 0.05,
  alpha: 0.05,
  b: 100,
  undefinedNulls: 0,
  n1: 20,
  n2: 20,
  m: 4,
  seconds: 0.1,
});
const firing = (i: number, pvalue: number): RecordFiringInput => ({
  corpus: 'aud',
  audit: 'w',
  firingId: `w.f${i}`,
  timeMs: Date.UTC(2026, 10, 30, 10, 0, i),
  confirmations: 2,
  results: [{ endpoint: 'm/p', model: 'm', source: `p.f${i}`, reference: 'ref:m/fp32', outcome: outcome(`w.f${i}.e0`, pvalue) }],
});

test('recordAuditFiring: the verdict flips after two consecutive rejections, once; a retried firing writes the same row again', async () => {
  const { recordAuditFiring } = createAuditActivities({ duck, dataDir });
  const seen: string[] = [];
  for (const [i, p] of [
    [0, 0.5],
    [1, 0.01],
    [2, 0.2],
    [3, 0.01],
    [4, 0.001],
    [5, 0.001],
  ] as const) {
    const r = await recordAuditFiring(firing(i, p));
    seen.push(`${r.rows[0].verdict}${r.rows[0].changed ? '!' : ''}`);
    if (i === 4) {
      assert.equal(r.alerts.length, 1);
      assert.deepEqual(
        { ...r.alerts[0], time: undefined },
        {
          alertId: 'w/w.f4/m/p',
          kind: 'verdict',
          audit: 'w',
          corpus: 'aud',
          endpoint: 'm/p',
          firingId: 'w.f4',
          time: undefined,
          from: 'consistent',
          to: 'differs',
          pValue: 0.001,
          alpha: 0.05,
          statistic: 'mmd_hamming',
          value: 0.1,
          confirmations: 2,
        },
      );
      const again = await recordAuditFiring(firing(4, 0.001));
      assert.deepEqual(again, r, 'a retry sees the history without its own row');
    } else {
      assert.equal(r.alerts.length, 0);
    }
  }
  assert.deepEqual(seen, ['consistent', 'consistent', 'consistent', 'consistent', 'differs!', 'differs']);
  const rows = await readAuditRows(duck, dataDir, 'aud', 'w');
  assert.deepEqual(
    rows.map((r) => r.firingId),
    ['w.f0', 'w.f1', 'w.f2', 'w.f3', 'w.f4', 'w.f5'],
  );
  assert.equal(readdirSync(kindDir(dataDir, 'aud', 'audits')).filter((f) => f.endsWith('.parquet')).length, 6);
  assert.ok(
    rows.every((r) => r.promptTokens === null),
    'no samples on disk: no usage',
  );
  assert.deepEqual(await readAuditRows(duck, dataDir, 'aud', 'other'), []);
});

test('recordAuditFiring with a billing check: the ratio is stored, and alerts when it crosses maxRatio (either way), once per crossing', async () => {
  const { recordAuditFiring } = createAuditActivities({ duck, dataDir });
  const seen: string[] = [];
  for (const [i, billed] of [100, 104, 120, 130, 101].entries()) {
    const input = firing(i, 0.5);
    const r = await recordAuditFiring({
      ...input,
      audit: 'bill',
      firingId: `bill.f${i}`,
      maxBillingRatio: 1.05,
      results: input.results.map((x) => ({ ...x, billing: { samples: 10, reported: 10, reportedCompletionTokens: billed, countedCompletionTokens: 100 } })),
    });
    assert.equal(r.rows[0].billingRatio, billed / 100);
    assert.deepEqual([r.rows[0].countedCompletionTokens, r.rows[0].billingMaxRatio], [100, 1.05]);
    seen.push(r.alerts.map((a) => `${a.kind}:${a.billing?.over}:${a.alertId}`).join(',') || '-');
  }
  assert.deepEqual(seen, ['-', '-', 'billing:true:bill/bill.f2/m/p/billing', '-', 'billing:false:bill/bill.f4/m/p/billing']);
  const rows = await readAuditRows(duck, dataDir, 'aud', 'bill');
  assert.deepEqual(
    rows.map((r) => r.billingRatio),
    [1, 1.04, 1.2, 1.3, 1.01],
  );
  // Nothing reported: no ratio, and no alert.
  const none = await recordAuditFiring({
    ...firing(9, 0.5),
    audit: 'bill-none',
    maxBillingRatio: 1.05,
    results: firing(9, 0.5).results.map((x) => ({ ...x, billing: { samples: 10, reported: 0, reportedCompletionTokens: 0, countedCompletionTokens: 0 } })),
  });
  assert.deepEqual([none.rows[0].billingRatio, none.alerts.length], [null, 0]);
});

const alert: AuditAlert = {
  alertId: 'w/w.f4/m/p',
  audit: 'w',
  corpus: 'aud',
  endpoint: 'm/p',
  firingId: 'w.f4',
  time: '2026-11-30T10:00:04.000Z',
  from: 'consistent',
  to: 'differs',
  pValue: 0.001,
  alpha: 0.05,
  statistic: 'mmd_hamming',
  value: 0.1,
  confirmations: 2,
};

test("sendAuditAlert: posts JSON with an idempotency key to the worker's webhook; 5xx and no answer retry, other 4xx do not; no webhook sends nothing", async () => {
  assert.deepEqual(await createAuditActivities({ duck, dataDir }).sendAuditAlert(alert), { sent: false });
  const { sendAuditAlert } = createAuditActivities({ duck, dataDir, alerts: { webhookURL: hookURL } });
  nextStatus = 200;
  assert.deepEqual(await sendAuditAlert(alert), { sent: true, status: 200 });
  assert.deepEqual(got.at(-1), { body: alert, key: alert.alertId });
  const failure = async (status: number) => {
    nextStatus = status;
    try {
      await sendAuditAlert(alert);
    } catch (err) {
      assert.ok(err instanceof ApplicationFailure);
      return err;
    }
    assert.fail(`HTTP ${status} did not fail`);
  };
  assert.equal((await failure(503)).nonRetryable, false);
  assert.equal((await failure(429)).nonRetryable, false);
  assert.equal((await failure(404)).nonRetryable, true);
  assert.equal(got.length, 4);
  const closed = createAuditActivities({ duck, dataDir, alerts: { webhookURL: 'http://127.0.0.1:9/x', timeoutMs: 2000 } });
  await assert.rejects(
    closed.sendAuditAlert(alert),
    (err: unknown) => err instanceof ApplicationFailure && !err.nonRetryable && /did not answer/.test(err.message),
  );
});
