/**
 * The tracking tier's CPU activities without a server: the probe set (a seeded draw of the spec's
 * prompts), and successive firings recorded in the audits table: the first ones are the baseline,
 * later ones are tested against exactly those, and the confirmation rule turns rejections into differs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createAuditActivities } from '../../activities/audits';
import { createTrackingActivities, TrackingRecord, type TrackingOutcomeInput } from '../../activities/tracking';
import { createDuckDB, readAuditRows } from '../../datasets';

let duck: DuckDBInstance;
const dataDir = mkdtempSync(join(tmpdir(), 'met-tracking-activity-'));
before(async () => {
  duck = await createDuckDB();
});
after(() => {
  duck?.closeSync();
  rmSync(dataDir, { recursive: true, force: true });
});

const env = new MockActivityEnvironment();
/** An activity run in the mock environment (which types its result as unknown). */
const run = <I, O>(fn: (input: I) => Promise<O>, input: I): Promise<O> => env.run<[I], O, typeof fn>(fn, input);
const answers = (shift: number): [string, number][][] =>
  ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'].map((_, j) => [
    [`a${j}`, -0.2 - shift],
    [`b${j}`, -1.9 + shift],
  ]);

/** Records a tracking firing's outcome as the audit workflow does (one endpoint, 6 probe requests). */
function recordTrackingFiring(
  input: TrackingOutcomeInput,
  t: Awaited<ReturnType<ReturnType<typeof createTrackingActivities>['trackingOutcome']>>,
  opts: { source: string; confirmations: number },
) {
  const { recordAuditFiring } = createAuditActivities({ duck, dataDir });
  return run(recordAuditFiring, {
    corpus: input.corpus,
    audit: input.audit,
    firingId: input.firingId,
    timeMs: input.timeMs,
    confirmations: opts.confirmations,
    results: [
      {
        endpoint: input.endpoint,
        model: 'tiny',
        source: opts.source,
        reference: t.reference,
        outcome: t.outcome,
        tracking: { record: t.record, requests: 6, promptTokens: 18, completionTokens: 6 },
      },
    ],
  });
}

test('the probe set: the spec’s prompts, a seeded draw of `count`, the same at every firing; long probes refused', async () => {
  const { planTrackingProbes } = createTrackingActivities({ duck, dataDir });
  const inline = Array.from({ length: 20 }, (_, i) => ({ id: `q${i}`, text: `word ${i}` }));
  const a = await run(planTrackingProbes, { prompts: { inline }, count: 5, seed: 3 });
  assert.equal(a.length, 5);
  assert.deepEqual(a, await run(planTrackingProbes, { prompts: { inline }, count: 5, seed: 3 }));
  assert.ok(a.every((p) => inline.some((q) => q.id === p.id && q.text === p.text)));
  assert.deepEqual(
    (await run(planTrackingProbes, { prompts: { set: 'demo', limit: 3 }, count: 32, seed: 0 })).map((p) => p.id),
    ['demo-000', 'demo-001', 'demo-002'],
  );
  await assert.rejects(
    run(planTrackingProbes, { prompts: { inline: [{ id: 'long', text: 'x'.repeat(5000) }] }, count: 1, seed: 0 }),
    /probe 'long' has 5000 characters: a probe has at most 4000/,
  );
});

test('successive firings: two baseline firings, then tests against exactly those; two rejections flip the verdict', async () => {
  const { trackingOutcome } = createTrackingActivities({ duck, dataDir });
  const probes = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const fire = async (i: number, shift: number, ids = probes) => {
    const firingId = `w.f${i}`;
    const input: TrackingOutcomeInput = {
      corpus: 'trk',
      audit: 'w',
      endpoint: 'tiny/stand',
      firingId,
      timeMs: Date.UTC(2026, 11, 6, 12, 0, i),
      testId: `${firingId}.e0`,
      topK: 2,
      probes: ids,
      answers: answers(shift),
      baselineFirings: 2,
      alpha: 0.05,
      b: 1000,
      seed: 0,
    };
    const t = await run(trackingOutcome, input);
    const recorded = await recordTrackingFiring(input, t, { source: `stand.f${i}`, confirmations: 2 });
    return { t, row: recorded.rows[0], alerts: recorded.alerts };
  };
  const f1 = await fire(1, 0);
  const f2 = await fire(2, 0.01);
  for (const [f, n] of [
    [f1, 1],
    [f2, 2],
  ] as const) {
    assert.deepEqual([f.row.pValue, f.row.reject, f.row.n1, TrackingRecord.parse(JSON.parse(f.t.record)).role], [1, false, n, 'baseline']);
    assert.match(f.t.outcome.warnings?.[0] ?? '', new RegExp(`baseline firing ${n} of 2`));
  }
  // Within the baseline's own spread: not rejected.
  const f3 = await fire(3, 0.005);
  assert.equal(f3.row.reject, false, `p = ${f3.row.pValue}`);
  assert.deepEqual(TrackingRecord.parse(JSON.parse(f3.t.record)).baseline, ['w.f1', 'w.f2']);
  // Moved on every probe: rejected; the verdict flips at the second such firing, with one alert.
  const f4 = await fire(4, 0.5);
  const f5 = await fire(5, 0.5);
  assert.deepEqual([f4.row.reject, f4.row.verdict, f4.alerts.length], [true, 'consistent', 0]);
  assert.deepEqual([f5.row.reject, f5.row.verdict, f5.row.changed, f5.alerts.length], [true, 'differs', true, 1]);
  assert.equal(f5.row.pValue, 1 / 729, 'exact: 3^6 labellings');
  // Later firings still compare with the first two, not with the tested ones.
  assert.deepEqual(TrackingRecord.parse(JSON.parse(f5.t.record)).baseline, ['w.f1', 'w.f2']);
  const rows = await readAuditRows(duck, dataDir, 'trk', 'w');
  assert.deepEqual(
    rows.map((r) => [r.statistic, r.requests, r.promptTokens, r.completionTokens]),
    rows.map(() => ['logprob_tracking', 6, 18, 6]),
  );
  // A probe set that shares nothing with the baseline's cannot be tested.
  await assert.rejects(fire(6, 0, ['z0', 'z1', 'z2', 'z3', 'z4', 'z5']), /no probe of this firing was answered at the baseline firings/);
});

test('a top-k raised after the baseline is compared at the baseline k: the same endpoint stays consistent', async () => {
  const { trackingOutcome } = createTrackingActivities({ duck, dataDir });
  const probes = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const fire = async (i: number, topK: number) => {
    const firingId = `k.f${i}`;
    // The same endpoint every firing; at top-3 it also lists a third token the top-2 firings could not show.
    const listed = answers(0).map((a, j): [string, number][] => (topK > 2 ? [...a, [`c${j}`, -4]] : a));
    const input: TrackingOutcomeInput = {
      corpus: 'trk',
      audit: 'k',
      endpoint: 'tiny/stand',
      firingId,
      timeMs: Date.UTC(2026, 11, 6, 13, 0, i),
      testId: `${firingId}.e0`,
      topK,
      probes,
      answers: listed,
      baselineFirings: 2,
      alpha: 0.05,
      b: 1000,
      seed: 0,
    };
    const t = await run(trackingOutcome, input);
    await recordTrackingFiring(input, t, { source: `stand.k${i}`, confirmations: 1 });
    return t.outcome;
  };
  await fire(1, 2);
  await fire(2, 2);
  const raised = await fire(3, 3);
  assert.ok(raised.value < 1e-12, `distance ${raised.value}`);
  assert.deepEqual([raised.pvalue, raised.reject], [1, false]);
  assert.match(raised.warnings?.join('\n') ?? '', /the baseline firings listed top-2 logprobs: this firing's top-3 are compared at top-2/);
});

test('the record notes the endpoint kind and system prompt; a firing asked otherwise than the baseline is refused, saying what changed; older records stay readable', async () => {
  const { trackingOutcome } = createTrackingActivities({ duck, dataDir });
  const probes = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  const chat = { endpoint: 'chat' as const, systemPrompt: 'You are terse.' };
  const fire = async (audit: string, i: number, sampling: TrackingOutcomeInput['sampling']) => {
    const firingId = `${audit}.f${i}`;
    const input: TrackingOutcomeInput = {
      corpus: 'trk',
      audit,
      endpoint: 'tiny/stand',
      firingId,
      timeMs: Date.UTC(2026, 11, 6, 14, 0, i),
      testId: `${firingId}.e0`,
      topK: 2,
      probes,
      // The baseline's two firings apart, every later one between them: within the baseline's own spread.
      answers: answers(i === 1 ? 0 : i === 2 ? 0.01 : 0.005),
      baselineFirings: 2,
      alpha: 0.05,
      b: 1000,
      seed: 0,
      ...(sampling ? { sampling } : {}),
    };
    const t = await run(trackingOutcome, input);
    await recordTrackingFiring(input, t, { source: `stand.${audit}${i}`, confirmations: 2 });
    return { outcome: t.outcome, record: TrackingRecord.parse(JSON.parse(t.record)) };
  };
  // Two baseline firings through the chat endpoint with a system prompt: both noted in the record.
  const b1 = await fire('s', 1, chat);
  await fire('s', 2, chat);
  assert.deepEqual([b1.record.role, b1.record.sampling], ['baseline', chat]);
  // The spec unchanged: tested as before.
  const same = await fire('s', 3, chat);
  assert.deepEqual([same.record.role, same.record.sampling, same.outcome.reject], ['test', chat, false]);
  // The endpoint kind changed: refused, naming the change, the baseline firings and both ways out.
  await assert.rejects(
    fire('s', 4, { ...chat, endpoint: 'completions' }),
    (err: Error) =>
      /audit s changed since its baseline: sampling\.endpoint is completions, but the baseline firings \(s\.f1, s\.f2\) asked the chat endpoint\./.test(
        err.message,
      ) &&
      /Put the spec back \(sampling\.endpoint: chat\) and create the audit again with it \(met audit delete s, then met audit create SPEC\), or start a new baseline: create the edited spec under a new audit name/.test(
        err.message,
      ) &&
      !/system prompt is/.test(err.message),
  );
  // The system prompt changed, or was taken out: refused, with both prompts (cut) in the message.
  await assert.rejects(
    fire('s', 5, { ...chat, systemPrompt: `Answer at length. ${'x'.repeat(100)}` }),
    /the system prompt is "Answer at length\. x+\.\.\." \(118 characters\), but the baseline firings \(s\.f1, s\.f2\) were asked with "You are terse\." \(14 characters\)/,
  );
  await assert.rejects(
    fire('s', 6, { ...chat, systemPrompt: null }),
    /the system prompt is none, but the baseline firings \(s\.f1, s\.f2\) were asked with "You are terse\."/,
  );
  // Both at once: both named.
  await assert.rejects(fire('s', 7, { endpoint: 'completions', systemPrompt: null }), /sampling\.endpoint is completions.*; the system prompt is none/);
  // A refused firing records nothing: the next unchanged firing is still tested against the same two.
  const after = await fire('s', 8, chat);
  assert.deepEqual([after.record.baseline, after.outcome.reject], [['s.f1', 's.f2'], false]);
  const rows = await readAuditRows(duck, dataDir, 'trk', 's');
  assert.deepEqual(
    rows.map((r) => r.firingId),
    ['s.f1', 's.f2', 's.f3', 's.f8'],
  );

  // A change during the baseline is refused too: its firings must agree among themselves.
  await fire('d', 1, chat);
  await assert.rejects(
    fire('d', 2, { endpoint: 'completions', systemPrompt: 'You are terse.' }),
    /sampling\.endpoint is completions, but the baseline firings \(d\.f1\) asked the chat endpoint/,
  );

  // Records written before the fields (a firing started before the patch passes no sampling): readable, not checked, and said so.
  await fire('o', 1, undefined);
  await fire('o', 2, undefined);
  const old = await readAuditRows(duck, dataDir, 'trk', 'o');
  assert.ok(old.length === 2 && old.every((r) => TrackingRecord.parse(JSON.parse(r.tracking!)).sampling === undefined));
  const newer = await fire('o', 3, { endpoint: 'completions', systemPrompt: null });
  assert.deepEqual([newer.record.role, newer.record.sampling, newer.outcome.reject], ['test', { endpoint: 'completions', systemPrompt: null }, false]);
  assert.match(
    newer.outcome.warnings?.join('\n') ?? '',
    /recorded before the endpoint kind and system prompt were noted: a change of either since then is not checked/,
  );
  // And an old-style firing (no sampling passed) against noted baseline records is not checked either (it has nothing to compare).
  const legacy = await fire('s', 9, undefined);
  assert.deepEqual([legacy.record.role, legacy.record.sampling], ['test', undefined]);
});
