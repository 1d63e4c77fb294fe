import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetError } from '../../common/errors';
import { encodeChars, encodeTokens } from '../../stats/encode';
import { bootstrapNulls, bootstrapTest, compositeDecision, permutationTest } from '../../stats/pvalue';
import { deriveSeed, Rng } from '../../stats/rng';
import { statistic, TWO_SAMPLE_STATISTICS, type TwoSampleStatistic } from '../../stats/statistics';
import { twoSampleTest } from '../../stats';
import type { EncodedSample } from '../../stats/types';
import { markovText, shuffledRows, toyModel } from './data';
import { naiveCount, naiveDraw, naiveMmd, type NaiveKernel, naivePermutationNulls } from './naive';

function naiveStatistic(name: TwoSampleStatistic): (x: EncodedSample, y: EncodedSample) => number {
  const kernels: Partial<Record<TwoSampleStatistic, NaiveKernel>> = {
    mmd_hamming: { kind: 'hamming' },
    mmd_kspectrum: { kind: 'kspectrum', k: 5, cumulative: true },
  };
  const kernel = kernels[name];
  if (kernel) return (x, y) => naiveMmd(x, y, kernel);
  if (name === 'mmd_all_subsequences') return (x, y) => naiveMmd(x, y, { kind: 'kspectrum', k: x.L, cumulative: true });
  return (x, y) => naiveCount(name as 'two_sample_L1', x, y);
}

test('the Gram-reusing permutation test equals recomputing every permutation from the rows (same seed)', () => {
  const rng = new Rng(3);
  const x = markovText(rng, 3, 5, 16, 0.5);
  const y = markovText(rng, 3, 6, 16, 0.7);
  for (const name of TWO_SAMPLE_STATISTICS) {
    const b = name === 'mmd_hamming' ? 200 : 40;
    const fast = permutationTest(name, x, y, { b, seed: 11 });
    const naive = naivePermutationNulls(naiveStatistic(name), x, y, b, 11);
    const observed = naiveStatistic(name)(x, y);
    assert.ok(Math.abs(fast.statistic - observed) <= 1e-12 * Math.max(1, Math.abs(observed)), `${name}: ${fast.statistic} vs ${observed}`);
    for (let t = 0; t < b; t++) {
      const tolerance = name === 'mmd_hamming' ? 0 : 1e-12 * Math.max(1, Math.abs(naive[t]));
      assert.ok(
        Math.abs(fast.nulls[t] - naive[t]) <= tolerance || (Number.isNaN(fast.nulls[t]) && Number.isNaN(naive[t])),
        `${name} permutation ${t}: ${fast.nulls[t]} vs ${naive[t]}`,
      );
    }
    if (name === 'mmd_hamming') {
      // Integer kernel sums: the same numbers bit for bit, so the same p-value.
      let ge = 0;
      for (const v of naive) if (v >= fast.statistic) ge++;
      assert.equal(fast.pvalue, ge / b);
    }
  }
});

test('bootstrap null statistics equal drawing the rows and recomputing (same seed)', () => {
  const rng = new Rng(4);
  const reference = markovText(rng, 3, 7, 16, 0.5); // L a power of two: kernel values k/L are exact
  const nulls = bootstrapNulls('mmd_hamming', reference, { n1: 9, n2: 11 }, { b: 60, seed: 5 });
  for (let t = 0; t < 60; t++) {
    const draws = new Rng(deriveSeed(5, t));
    const x = naiveDraw(draws, reference, 9, [0, 1, 2]);
    const y = naiveDraw(draws, reference, 11, [0, 1, 2]);
    const expected = naiveMmd(x, y, { kind: 'hamming' });
    assert.ok(nulls[t] === expected || (Number.isNaN(nulls[t]) && Number.isNaN(expected)), `draw ${t}: ${nulls[t]} vs ${expected}`);
  }
  const counts = bootstrapNulls('two_sample_chi_squared', reference, { n1: 9, n2: 11 }, { b: 30, seed: 5 });
  for (let t = 0; t < 30; t++) {
    const draws = new Rng(deriveSeed(5, t));
    const x = naiveDraw(draws, reference, 9, [0, 1, 2]);
    const y = naiveDraw(draws, reference, 11, [0, 1, 2]);
    assert.ok(Math.abs(counts[t] - naiveCount('two_sample_chi_squared', x, y)) < 1e-9, `draw ${t}`);
  }
});

test('p-values are in [0, 1] with resolution 1/b; the same seed gives the same p-value', () => {
  const rng = new Rng(5);
  const x = toyModel(rng, 3, 8);
  const y = toyModel(rng, 3, 8, 0.1);
  const reference = toyModel(rng, 3, 20);
  for (const name of TWO_SAMPLE_STATISTICS) {
    for (const pvalue of ['permutation', 'bootstrap'] as const) {
      const a = twoSampleTest({ x, y, stat: name, pvalue, b: 50, seed: 9, reference });
      const b = twoSampleTest({ x, y, stat: name, pvalue, b: 50, seed: 9, reference });
      assert.equal(a.pvalue, b.pvalue, name);
      assert.deepEqual(a.nulls, b.nulls, name);
      assert.ok(a.pvalue >= 0 && a.pvalue <= 1, `${name}: ${a.pvalue}`);
      assert.equal(a.pvalue, Math.round(a.pvalue * 50) / 50, `${name}: ${a.pvalue} is a multiple of 1/50`);
      assert.equal(a.b, 50);
      assert.equal(a.n1, x.prompts.length);
    }
  }
});

test('MMD of a sample against a shuffled copy of its own rows equals that against itself', () => {
  const rng = new Rng(8);
  const x = markovText(rng, 3, 6, 20);
  const copy = shuffledRows(rng, x);
  for (const name of TWO_SAMPLE_STATISTICS) {
    const self = statistic(name, x, x);
    const shuffled = statistic(name, x, copy);
    assert.ok(Math.abs(shuffled - self) <= 1e-12 * Math.max(1, Math.abs(self)), `${name}: ${shuffled} vs ${self}`);
    assert.ok(Math.abs(statistic(name, copy, x) - self) <= 1e-12 * Math.max(1, Math.abs(self)), name);
  }
  assert.equal(statistic('two_sample_L1', x, copy), 0);
  assert.ok(permutationTest('mmd_hamming', x, copy, { b: 100, seed: 1 }).pvalue > 0.5, 'a sample is not rejected against its own rows');
});

test('MMD_Hamming x L does not depend on L once L covers every completion', () => {
  const rng = new Rng(9);
  const base = markovText(rng, 3, 5, 30);
  const other = markovText(rng, 3, 4, 30);
  const text = (s: EncodedSample) =>
    Array.from({ length: s.prompts.length }, (_, i) => String.fromCodePoint(...Array.from(s.tokens.subarray(i * s.L, (i + 1) * s.L)).filter((c) => c >= 0)));
  const v = (L: number) => statistic('mmd_hamming', encodeChars(base.prompts, text(base), L), encodeChars(other.prompts, text(other), L)) * L;
  for (const L of [31, 100, 1000]) assert.ok(Math.abs(v(30) - v(L)) < 1e-12, `L=${L}: ${v(L)} vs ${v(30)}`);
  assert.notEqual(v(10), v(30), 'below the longest completion, truncation changes it');
});

test('calibration: two samples of one distribution reject at about alpha (fixed seed)', () => {
  const rng = new Rng(2024);
  const repeats = 300;
  let permutation = 0;
  let bootstrap = 0;
  const reference = toyModel(rng, 5, 200);
  for (let rep = 0; rep < repeats; rep++) {
    const x = toyModel(rng, 5, 10);
    const y = toyModel(rng, 5, 10);
    if (permutationTest('mmd_hamming', x, y, { b: 100, seed: rep }).pvalue <= 0.05) permutation++;
    if (rep < 100 && bootstrapTest('mmd_hamming', x, y, reference, { b: 100, seed: rep }).pvalue <= 0.05) bootstrap++;
  }
  const rate = permutation / repeats;
  assert.ok(rate >= 0.02 && rate <= 0.08, `permutation rejection rate ${rate}`);
  assert.ok(bootstrap / 100 <= 0.12, `bootstrap rejection rate ${bootstrap / 100}`);
});

test('a shifted sample is rejected, by both p-values', () => {
  const rng = new Rng(77);
  const reference = toyModel(rng, 5, 60);
  const x = toyModel(rng, 5, 30);
  const y = toyModel(rng, 5, 30, 0.25);
  assert.ok(permutationTest('mmd_hamming', x, y, { b: 200, seed: 1 }).pvalue <= 0.05);
  assert.ok(bootstrapTest('mmd_hamming', x, y, reference, { b: 200, seed: 1 }).pvalue <= 0.05);
  assert.deepEqual(compositeDecision([0.01, 0.2], 0.05), { reject: false, pvalue: 0.2 });
  assert.deepEqual(compositeDecision([0.01, 0.04], 0.05), { reject: true, pvalue: 0.04 });
});

function rejects(fn: () => unknown, type: string, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof MetError && e.type === type && pattern.test(e.message), String(pattern));
}

test('clear errors instead of NaN and false rejections', () => {
  const y = encodeChars([0, 0, 1, 1], ['a', 'b', 'c', 'd'], 4);
  rejects(
    () => statistic('mmd_hamming', encodeChars([0, 1], ['a', 'b'], 4), y),
    'MetTooFewSamples',
    /prompt 0 has one sample in X.*at least two samples per prompt/,
  );
  rejects(() => statistic('mmd_hamming', y, encodeChars([2, 3], ['a', 'b'], 4)), 'MetTooFewSamples', /share no prompt/);
  rejects(() => statistic('mmd_hamming', encodeChars([0, 0], ['a', 'b'], 4), encodeChars([1, 1], ['a', 'b'], 4)), 'MetTooFewSamples', /share no prompt/);
  rejects(() => statistic('mmd_hamming', encodeChars([], [], 4), y), 'MetBadInput', /X is empty/);
  rejects(() => statistic('two_sample_L1', y, encodeChars([], [], 4)), 'MetBadInput', /Y is empty/);
  rejects(() => statistic('mmd_hamming', encodeChars([0, 0], ['a', 'b'], 4), encodeChars([0, 0], ['a', 'b'], 5)), 'MetBadInput', /L = 4 .* L = 5.*same L/);
  rejects(() => statistic('mmd_hamming', y, encodeTokens([0, 0], [[1], [2]], 4, { pad: 0 })), 'MetBadInput', /same pad/);
  rejects(() => statistic('mmd_kspectrum', y, y, { k: 0 }), 'MetBadInput', /k of the k-spectrum/);
  rejects(() => statistic('mmd_hamingg' as TwoSampleStatistic, y, y), 'MetBadInput', /unknown statistic/);
  rejects(() => permutationTest('mmd_hamming', y, y, { b: 0, seed: 1 }), 'MetBadInput', /b \(the number of null statistics\)/);
  rejects(() => permutationTest('mmd_hamming', y, y, { b: 10, seed: -1 }), 'MetBadInput', /seed/);
  rejects(
    () => bootstrapTest('mmd_hamming', y, y, encodeChars([0, 0], ['a', 'b'], 4, 2), { b: 10, seed: 1 }),
    'MetTooFewSamples',
    /no completion for prompt 1/,
  );
  rejects(() => encodeChars([0, 2], ['a', 'b'], 4, 2), 'MetBadInput', /not below m = 2/);
  rejects(() => twoSampleTest({ x: y, y, stat: 'mmd_hamming', pvalue: 'bootstrap', b: 10, seed: 1 }), 'MetBadInput', /needs a reference/);
  // A prompt with a single row is fine while another prompt has two (the original's value).
  const ok = statistic('mmd_hamming', encodeChars([0, 0, 1], ['a', 'b', 'c'], 4), y);
  assert.ok(Number.isFinite(ok));
});

test('a bootstrap reference must cover every prompt the samples use', () => {
  const x = encodeChars([0, 0, 2, 2], ['a', 'b', 'c', 'd'], 4);
  const reference = encodeChars([0, 0, 1, 1], ['a', 'b', 'c', 'd'], 4);
  rejects(() => bootstrapTest('mmd_hamming', x, x, reference, { b: 10, seed: 1 }), 'MetTooFewSamples', /the reference has no completion for prompt 2/);
});

test('composite test: Y equal to either reference is accepted, Y far from both is rejected', async () => {
  const { compositeTest } = await import('../../stats');
  const rng = new Rng(31);
  const p1 = toyModel(rng, 4, 80);
  const p2 = toyModel(rng, 4, 80, 0.05);
  const base = { stat: 'mmd_hamming' as const, pvalue: 'permutation' as const, b: 200, seed: 3, alpha: 0.05 };
  const x: [EncodedSample, EncodedSample] = [toyModel(rng, 4, 80), toyModel(rng, 4, 80, 0.05)];
  const far = compositeTest({ ...base, x, y: toyModel(rng, 4, 80, 0.25) });
  assert.equal(far.reject, true, `p-values ${far.tests.map((t) => t.pvalue)}`);
  const likeP2 = compositeTest({ ...base, x, y: toyModel(rng, 4, 80, 0.05) });
  assert.equal(likeP2.reject, false);
  assert.equal(likeP2.pvalue, Math.max(likeP2.tests[0].pvalue, likeP2.tests[1].pvalue));
  const boot = compositeTest({ ...base, pvalue: 'bootstrap', x, y: toyModel(rng, 4, 80, 0.25), references: [p1, p2] });
  assert.equal(boot.reject, true);
});

test('kernel blocks beyond the memory budget are refused with a message, before any work', () => {
  const rng = new Rng(41);
  const x = toyModel(rng, 2, 30);
  rejects(
    () => permutationTest('mmd_hamming', x, x, { b: 10, seed: 1, gramBudgetBytes: 1000 }),
    'MetBadInput',
    /kernel blocks would take 14400 bytes \(prompt 0 alone has 60 rows; the limit is 1000 bytes\)/,
  );
});
