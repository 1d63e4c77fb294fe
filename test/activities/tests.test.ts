import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTestActivities, type TestOutcome } from '../../activities/tests';
import { TestSpec } from '../../config/testSpec';
import { type LogprobRow, type SampleRow, writeShard } from '../../datasets';
import { createDuckDB } from '../../datasets/duck';
import { shardDir } from '../../datasets/paths';
import { syntheticSamples } from '../../datasets/synthetic';
import { encodeChars, nullDistribution, oneSampleTest, oneSampleTestInThread, twoSampleTest, twoSampleTestInThread } from '../../stats';

/**
 * A large test (b up to the bound) must not stall its worker: it runs in a thread of its own, the
 * activity heartbeats meanwhile, and a cancellation ends it within seconds.
 */
let duck: DuckDBInstance;
const dataDir = mkdtempSync(join(tmpdir(), 'met-test-activity-'));

before(async () => {
  duck = await createDuckDB();
  for (const source of ['a', 'b']) {
    const rows = syntheticSamples({
      corpus: 'big',
      unitId: `u-${source}`,
      model: 'm',
      source,
      prompts: 20,
      samplesPerPrompt: 50,
      seed: source === 'a' ? 1 : 2,
      completionChars: 200,
    });
    await writeShard(duck, dataDir, { corpus: 'big', kind: 'samples', partition: { model: 'm', source }, unitId: `u-${source}` }, rows);
  }
});
after(() => {
  duck?.closeSync();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a test in its own thread gives the same numbers as in this thread', async () => {
  const x = encodeChars([0, 0, 0, 1, 1, 1], ['ab', 'ab', 'ac', 'x', 'y', 'x'], 2);
  const y = encodeChars([0, 0, 1, 1, 1, 1], ['ab', 'ad', 'x', 'x', 'z', 'y'], 2);
  const input = { x, y, stat: 'mmd_hamming' as const, pvalue: 'permutation' as const, b: 300, seed: 4 };
  const here = twoSampleTest(input);
  const there = await twoSampleTestInThread(input);
  assert.equal(there.statistic, here.statistic);
  assert.equal(there.pvalue, here.pvalue);
  assert.deepEqual(Array.from(there.nulls), Array.from(here.nulls));
});

/**
 * Runs `activity` with `spec` (a test too large to finish soon), cancels it after two heartbeats, and
 * checks that the event loop stayed free and the test stopped within seconds.
 */
async function assertFreeAndCancellable(activity: (spec: TestSpec) => Promise<TestOutcome>, spec: TestSpec): Promise<void> {
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 3000 });
  let heartbeats = 0;
  env.on('heartbeat', () => heartbeats++);
  // The main thread's timers keep firing while the test computes (the worker's other activities run).
  let last = Date.now();
  let maxGap = 0;
  const ticker = setInterval(() => {
    maxGap = Math.max(maxGap, Date.now() - last);
    last = Date.now();
  }, 20);
  const started = Date.now();
  const running = env.run(activity, spec);
  const settled = running.then(
    () => 'completed',
    (err: unknown) => err,
  );
  // Cancel once two heartbeats came (a condition, not a clock: a loaded machine may take longer).
  const deadline = Date.now() + 30_000;
  while (
    heartbeats < 2 &&
    Date.now() < deadline &&
    (await Promise.race([settled.then(() => true), new Promise((r) => setTimeout(() => r(false), 50))])) === false
  );
  const heartbeatsBeforeCancel = heartbeats;
  env.cancel();
  const cancelledAt = Date.now();
  const outcome = await settled;
  const stoppedAfter = Date.now() - cancelledAt;
  clearInterval(ticker);
  // A blocked loop would stall for the whole computation (many seconds); a loaded machine alone may delay a tick by a second.
  assert.ok(maxGap < 2000, `the event loop was blocked for ${maxGap} ms`);
  assert.notEqual(outcome, 'completed', `b = ${spec.b} finished in ${Date.now() - started} ms: the test is too small to show anything`);
  assert.ok(outcome instanceof CancelledFailure, `expected a cancellation, got ${String(outcome)}`);
  assert.ok(stoppedAfter < 5000, `stopped ${stoppedAfter} ms after the cancellation`);
  assert.ok(heartbeatsBeforeCancel >= 2, `${heartbeatsBeforeCancel} heartbeats in ${cancelledAt - started} ms`);
}

test('runTwoSampleTest with a large b keeps the event loop free, heartbeats, and stops within seconds when cancelled', { timeout: 60_000 }, async () => {
  const activities = createTestActivities({ duck, dataDir });
  const spec = TestSpec.parse({
    testId: 'big-b',
    x: { corpus: 'big', model: 'm', source: 'a' },
    y: { corpus: 'big', model: 'm', source: 'b' },
    stat: 'mmd_hamming',
    b: 100_000,
    L: 200,
  });
  await assertFreeAndCancellable(activities.runTwoSampleTest, spec);
});

/** Plants a slice of synthetic samples (m/source in corpus), with `edit` applied to each row. */
async function plantSlice(
  corpus: string,
  source: string,
  opts: { prompts: number; samplesPerPrompt: number; seed: number; completionChars: number },
  edit = (s: SampleRow, _i: number) => s,
) {
  const rows = syntheticSamples({ corpus, unitId: `u-${source}`, model: 'm', source, ...opts }).map(edit);
  await writeShard(duck, dataDir, { corpus, kind: 'samples', partition: { model: 'm', source }, unitId: `u-${source}` }, rows);
  return rows;
}

/** Plants the logprobs of a slice's rows under scorer ref/fp32: token logprobs of row i from `lps(i)`. */
async function plantScores(corpus: string, source: string, samples: SampleRow[], unitId: string, lps: (i: number) => number[], route: string | null = null) {
  const rows: LogprobRow[] = samples.map((s, i) => ({
    corpus,
    model: 'm',
    source,
    promptId: s.promptId,
    sampleIndex: s.sampleIndex,
    scorerModel: 'ref',
    scorerPrecision: 'fp32',
    tokenIds: lps(i).map((_, k) => k + 1),
    tokenLogprobs: lps(i),
    sum: lps(i).reduce((a, b) => a + b, 0),
    count: lps(i).length,
    scorerBackend: route,
    tokenRanks: null,
  }));
  await writeShard(duck, dataDir, { corpus, kind: 'logprobs', partition: { scorerModel: 'ref', model: 'm', source }, unitId }, rows);
}

test('a rank test refuses logprobs of one scorer computed by two decode routes, and runs once they agree', async () => {
  const activities = createTestActivities({ duck, dataDir });
  const env = new MockActivityEnvironment();
  const samples: Record<string, SampleRow[]> = {};
  for (const source of ['a', 'b'])
    samples[source] = await plantSlice('routes', source, { prompts: 4, samplesPerPrompt: 10, seed: source === 'a' ? 5 : 6, completionChars: 20 });
  const score = (source: string, unitId: string, route: string | null) =>
    plantScores('routes', source, samples[source], unitId, (i) => [-1, -(i % 7) / 3], route);
  const cpuOff = 'llama.cpp in-process (CPU, flash attention off, 1 sequence per decode)';
  await score('a', 'la', cpuOff);
  await score('b', 'lb', null); // scored before met recorded the route
  const spec = TestSpec.parse({
    testId: 'routes',
    x: { corpus: 'routes', model: 'm', source: 'a' },
    y: { corpus: 'routes', model: 'm', source: 'b' },
    stat: 'rut',
    scorer: { model: 'ref', precision: 'fp32' },
  });
  await assert.rejects(env.run(activities.runRankUniformityTest, spec), (err: Error) => {
    assert.match(err.message, /logprobs under ref\/fp32 were computed by more than one decode route/);
    assert.match(err.message, /routes:m\/a \(40 rows\)/);
    assert.match(err.message, /a route the rows do not record.*routes:m\/b \(40 rows\)/);
    assert.match(err.message, /met score again/);
    return true;
  });
  // Rescored with the same route as X: the test runs.
  rmSync(shardDir(dataDir, 'routes', 'logprobs', { scorerModel: 'ref', model: 'm', source: 'b' }), { recursive: true, force: true });
  await score('b', 'lb2', cpuOff);
  const outcome: TestOutcome = await env.run(activities.runRankUniformityTest, spec);
  assert.equal(outcome.statistic, 'rut');
  assert.ok(outcome.pvalue >= 0 && outcome.pvalue <= 1);
});

test("a one-sample test shows how far Y's own logprobs are from the scorer's on the same tokens (and says nothing when Y has none)", async () => {
  const activities = createTestActivities({ duck, dataDir });
  const env = new MockActivityEnvironment();
  for (const source of ['ref', 'api']) {
    // The endpoint reports its own logprobs: 0.1 nats above the scorer's on every token, 0.4 on the last of row 5; row 7 with 2 of 3.
    const own = (i: number) => (i === 7 ? [-1, -2] : [-0.9, -1.9 - (i % 2) * 0.1, i === 5 ? -2.6 : -2.9]);
    const rows = await plantSlice('own', source, { prompts: 3, samplesPerPrompt: 6, seed: source === 'ref' ? 7 : 8, completionChars: 12 }, (s, i) => ({
      ...s,
      tokenIds: [1, 2, 3],
      tokenLogprobs: source === 'api' ? own(i) : null,
    }));
    await plantScores('own', source, rows, `l-${source}`, (i) => [-1, -2 - (i % 2) * 0.1, -3]);
  }
  const spec = (x: string, y: string) =>
    TestSpec.parse({
      testId: `own-${y}`,
      x: { corpus: 'own', model: 'm', source: x },
      y: { corpus: 'own', model: 'm', source: y },
      stat: 'g_squared',
      scorer: { model: 'ref', precision: 'fp32' },
      b: 50,
      L: 64,
    });
  const outcome: TestOutcome = await env.run(activities.runOneSampleTest, spec('ref', 'api'));
  const gap = outcome.ownLogprobs!;
  assert.ok(gap, 'Y carries its own logprobs');
  assert.deepEqual([gap.completions, gap.tokens, gap.lengthMismatches], [17, 51, 1]);
  // 17 rows x 3 tokens at 0.1, except row 5's last token at 0.4: mean (50 x 0.1 + 0.4) / 51.
  assert.ok(Math.abs(gap.meanAbs - (50 * 0.1 + 0.4) / 51) < 1e-6, `${gap.meanAbs}`);
  assert.ok(Math.abs(gap.maxAbs - 0.4) < 1e-6, `${gap.maxAbs}`);
  const reversed: TestOutcome = await env.run(activities.runOneSampleTest, spec('api', 'ref'));
  assert.equal(reversed.ownLogprobs, undefined, 'no own logprobs on the reference side: nothing shown');
});

test('a one-sample test in its own thread gives the same numbers as in this thread', async () => {
  const support = encodeChars([0, 0, 0, 1, 1], ['ab', 'ac', 'ad', 'x', 'y'], 2);
  const nul = nullDistribution(support, Float64Array.from([-1, -1.5, -2, -0.5, -1]));
  const sample = encodeChars([0, 0, 1, 1, 1], ['ab', 'ab', 'x', 'y', 'x'], 2);
  const here = oneSampleTest('g_squared', sample, nul, support, { b: 300, seed: 4 });
  const there = await oneSampleTestInThread({ name: 'g_squared', sample, nullDist: nul, pool: support, options: { b: 300, seed: 4 } });
  assert.equal(there.statistic, here.statistic);
  assert.equal(there.pvalue, here.pvalue);
  assert.deepEqual(Array.from(there.nulls), Array.from(here.nulls));
});

test(
  'runOneSampleTest with many rows and a large b keeps the event loop free, heartbeats, and stops within seconds when cancelled',
  { timeout: 90_000 },
  async () => {
    const activities = createTestActivities({ duck, dataDir });
    // 10,000 rows a side and b = 100,000: 10^9 bootstrap draws, far more than the test waits for.
    for (const source of ['ref', 'api']) {
      const rows = await plantSlice('bigone', source, { prompts: 20, samplesPerPrompt: 500, seed: source === 'ref' ? 9 : 10, completionChars: 20 });
      await plantScores('bigone', source, rows, `l-${source}`, (i) => [-1 - (i % 5) / 7, -2]);
    }
    const spec = TestSpec.parse({
      testId: 'big-b-one-sample',
      x: { corpus: 'bigone', model: 'm', source: 'ref' },
      y: { corpus: 'bigone', model: 'm', source: 'api' },
      stat: 'g_squared',
      scorer: { model: 'ref', precision: 'fp32' },
      b: 100_000,
      L: 64,
    });
    await assertFreeAndCancellable(activities.runOneSampleTest, spec);
  },
);
