import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetError } from '../../common/errors';
import { encodeChars } from '../../stats/encode';
import { nullDistribution, observedCounts, ONE_SAMPLE_STATISTICS, oneSamplePowerCell, oneSampleStatistic, oneSampleTest } from '../../stats/oneSample';
import { pvalueFrom } from '../../stats/pvalue';
import { Rng } from '../../stats/rng';

/** Null: prompt 0 with completions a, b, c (0.5, 0.3, 0.2), uniform over m = 1 prompt. */
const support = encodeChars([0, 0, 0], ['a', 'b', 'c'], 2, 1);
const conditional = Float64Array.from([0.5, 0.3, 0.2], Math.log);

test('one-sample statistics against a known null (o = [2, 2, 0], n = 4, n p = [2, 1.2, 0.8])', () => {
  const nul = nullDistribution(support, conditional);
  const o = observedCounts(encodeChars([0, 0, 0, 0], ['a', 'a', 'b', 'b'], 2, 1), nul);
  assert.deepEqual([...o], [2, 2, 0]);
  const near = (name: (typeof ONE_SAMPLE_STATISTICS)[number], expected: number) => {
    const v = oneSampleStatistic(name, o, nul.logProbs);
    assert.ok(Math.abs(v - expected) < 1e-12, `${name}: ${v} vs ${expected}`);
  };
  near('g_squared', 2 * (2 * Math.log(2 / 2) + 2 * Math.log(2 / 1.2)));
  near('chi_squared', 0 + 0.8 ** 2 / 1.2 + 0.8);
  // |S| = 3: max(p, 1/3) = [0.5, 1/3, 1/3]
  near('truncated_chi_squared', (0 - 2) / 0.5 + (0.8 ** 2 - 2) / (1 / 3) + 0.8 ** 2 / (1 / 3));
  near('L1', 0 + 0.8 + 0.8);
  near('L2', 0 + 0.64 + 0.64);
});

test('prompt probabilities enter the joint p_u, and duplicate support rows are merged', () => {
  const rows = encodeChars([0, 0, 1, 1, 1], ['a', 'b', 'a', 'b', 'b'], 2, 2);
  const nul = nullDistribution(rows, Float64Array.from([0.5, 0.5, 0.9, 0.1, 0.1], Math.log), [0.25, 0.75]);
  assert.equal(nul.support.prompts.length, 4);
  assert.deepEqual(
    Array.from(nul.logProbs, (v) => Math.round(Math.exp(v) * 1e12) / 1e12),
    [0.125, 0.125, 0.675, 0.075],
  );
  assert.throws(() => nullDistribution(rows, Float64Array.from([0.5, 0.5, 0.9, 0.1, 0.2], Math.log)), /different log-probabilities/);
  assert.throws(() => nullDistribution(rows, [0, 0, 0, 0, 0.5]), /log-probabilities are <= 0/);
});

test('log space: where p underflows, g_squared stays finite and chi_squared follows exp(2 ln o - ln n p)', () => {
  // log p = -800: exp underflows to 0 in float64 too; the original's float32 exp(sum) gives 0 and inf.
  const rows = encodeChars([0, 0], ['x', 'y'], 1, 1);
  const nul = nullDistribution(rows, [Math.log(1 - 1e-300), -800]);
  const o = observedCounts(encodeChars([0, 0, 0], ['x', 'x', 'y'], 1, 1), nul);
  const g2 = oneSampleStatistic('g_squared', o, nul.logProbs);
  assert.ok(Number.isFinite(g2) && g2 > 1500, `g_squared ${g2}`);
  assert.ok(Math.abs(g2 - 2 * (2 * Math.log(2 / 3) + 1 * (Math.log(1 / 3) + 800))) < 1e-9);
  const chi = oneSampleStatistic('chi_squared', o, nul.logProbs);
  assert.equal(chi, Infinity, 'o^2/(n p) = exp(800 - ln 3) overflows honestly');
  const nul2 = nullDistribution(rows, [Math.log(1 - 1e-300), -690]);
  const chi2 = oneSampleStatistic('chi_squared', observedCounts(encodeChars([0, 0, 0], ['x', 'x', 'y'], 1, 1), nul2), nul2.logProbs);
  assert.ok(Math.abs(chi2 / Math.exp(690 - Math.log(3)) - 1) < 1e-9, `chi_squared ${chi2}`);
});

test('errors: completions missing from the reference, empty sample, mismatched L', () => {
  const nul = nullDistribution(support, conditional);
  assert.throws(
    () => observedCounts(encodeChars([0, 0], ['a', 'z'], 2, 1), nul),
    (e: unknown) =>
      e instanceof MetError &&
      e.type === 'MetBadInput' &&
      /1 row of the sample \(first: row 1, prompt 0\) is missing from the reference's log-probabilities/.test(e.message),
  );
  assert.throws(() => observedCounts(encodeChars([], [], 2, 1), nul), /the sample is empty/);
  assert.throws(() => observedCounts(encodeChars([0], ['a'], 3, 1), nul), /L = 3 and the reference with L = 2/);
});

test('goodness-of-fit p-values: a sample of the null is accepted, a shifted one rejected; same seed, same p', () => {
  const rng = new Rng(6);
  const nul = nullDistribution(support, conditional);
  const draw = (p: number[], n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const u = rng.float();
      out.push(u < p[0] ? 'a' : u < p[0] + p[1] ? 'b' : 'c');
    }
    return encodeChars(new Array(n).fill(0), out, 2, 1);
  };
  const pool = draw([0.5, 0.3, 0.2], 400);
  const same = oneSampleTest('chi_squared', draw([0.5, 0.3, 0.2], 200), nul, pool, { b: 200, seed: 3 });
  const shifted = oneSampleTest('chi_squared', draw([0.3, 0.3, 0.4], 200), nul, pool, { b: 200, seed: 3 });
  assert.ok(same.pvalue > 0.05, `same ${same.pvalue}`);
  assert.ok(shifted.pvalue <= 0.05, `shifted ${shifted.pvalue}`);
  const again = oneSampleTest('chi_squared', draw([0.3, 0.3, 0.4], 200), nul, pool, { b: 200, seed: 3 });
  assert.deepEqual(again.nulls, shifted.nulls, 'the nulls depend on the seed only');
});

test('met stat one_sample: the same statistics and p-value as stats/oneSample.ts, and a clear error for a row outside the support', async () => {
  const { runStatInput } = await import('../../cli/statInput');
  const input = {
    test: 'one_sample',
    L: 2,
    m: 1,
    stats: ['g_squared', 'chi_squared', 'truncated_chi_squared', 'L1', 'L2'],
    reference: { prompts: [0, 0, 0], completions: ['a', 'b', 'c'], logprobs: [...conditional] },
    sample: { prompts: [0, 0, 0, 0], completions: ['a', 'a', 'b', 'b'] },
    pvalue: { stat: 'chi_squared', b: 200, seed: 3 },
  };
  const out = await runStatInput(input);
  const nul = nullDistribution(support, conditional);
  const sample = encodeChars([0, 0, 0, 0], ['a', 'a', 'b', 'b'], 2, 1);
  for (const name of ONE_SAMPLE_STATISTICS) assert.equal(out[name], oneSampleStatistic(name, observedCounts(sample, nul), nul.logProbs), name);
  assert.equal(out.pvalue, oneSampleTest('chi_squared', sample, nul, support, { b: 200, seed: 3 }).pvalue);
  await assert.rejects(
    runStatInput({ ...input, sample: { prompts: [0], completions: ['z'] } }),
    /1 row of the sample .* is missing from the reference's log-probabilities/,
  );
  await assert.rejects(runStatInput({ ...input, reference: { ...input.reference, logprobs: [-1] } }), /1 log-probabilities for 3 completions/);
});

test('the test spec lists the one-sample statistics the engine has (workflows read the list from config, not from stats)', async () => {
  const { ONE_SAMPLE_TEST_STATISTICS } = await import('../../config/testSpec');
  assert.deepEqual([...ONE_SAMPLE_TEST_STATISTICS], [...ONE_SAMPLE_STATISTICS]);
});

test('a one-sample power cell: its nulls are oneSampleTest bootstrap at the same seed and size, its p-values read them; the null cell rejects at about alpha, a shifted pool far more', () => {
  // Two prompts; the null: a, b, c at 0.5, 0.3, 0.2 (prompt 0) and d, e at 0.6, 0.4 (prompt 1).
  const rows = encodeChars([0, 0, 0, 1, 1], ['a', 'b', 'c', 'd', 'e'], 2, 2);
  const nul = nullDistribution(rows, Float64Array.from([0.5, 0.3, 0.2, 0.6, 0.4], Math.log));
  const rng = new Rng(5);
  // Stored draws: the reference's own (by its probabilities), and a pool that favours c and e.
  const pool = (p0: number[], p1: number[], size: number) => {
    const prompts: number[] = [];
    const texts: string[] = [];
    const pick = (p: number[], names: string[]) => {
      let u = rng.float();
      let i = 0;
      while (i < p.length - 1 && u >= p[i]) u -= p[i++];
      return names[i];
    };
    for (let s = 0; s < size; s++) {
      prompts.push(0, 1);
      texts.push(pick(p0, ['a', 'b', 'c']), pick(p1, ['d', 'e']));
    }
    return encodeChars(prompts, texts, 2, 2);
  };
  const reference = pool([0.5, 0.3, 0.2], [0.6, 0.4], 400);
  const shifted = pool([0.2, 0.3, 0.5], [0.3, 0.7], 400);
  const common = { name: 'g_squared' as const, nullDist: nul, reference, n: 40, sims: 200, b: 300, alpha: 0.05, seed: 3, nullSeed: 11 };
  const honest = oneSamplePowerCell({ ...common, alternatives: [] });
  const direct = oneSampleTest('g_squared', pool([0.5, 0.3, 0.2], [0.6, 0.4], 20), nul, reference, { b: 300, seed: 11 });
  assert.deepEqual([...honest.nulls], [...direct.nulls], "the cell's nulls are oneSampleTest's bootstrap for a sample of n = 40");
  honest.statistics.forEach((s, i) => assert.equal(honest.pvalues[i], pvalueFrom(s, honest.nulls)));
  assert.equal(honest.undefinedNulls, 0);
  assert.ok(honest.power <= 0.12, `type-I error ${honest.power}`);
  const dishonest = oneSamplePowerCell({ ...common, alternatives: [{ pool: shifted, weight: 1 }] });
  assert.ok(dishonest.power >= 0.9, `power ${dishonest.power}`);
  // Half the traffic shifted: between the two.
  const half = oneSamplePowerCell({
    ...common,
    alternatives: [
      { pool: shifted, weight: 0.5 },
      { pool: reference, weight: 0.5 },
    ],
  });
  assert.ok(half.power > honest.power && half.power < dishonest.power, `mixture power ${half.power}`);
  assert.throws(() => oneSamplePowerCell({ ...common, alternatives: [{ pool: encodeChars([0], ['a'], 2, 2), weight: 1 }] }), /no completion for prompt 1/);
});
