import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeChars } from '../../stats/encode';
import { bootstrapTest, permutationTest } from '../../stats/pvalue';
import { Rng } from '../../stats/rng';
import { statistic, TWO_SAMPLE_STATISTICS } from '../../stats/statistics';
import { MetError } from '../../common/errors';

/** A toy "model": per prompt, a few completions with skewed probabilities (shift moves the mass). */
function draw(rng: Rng, m: number, perPrompt: number, shift = 0) {
  const vocab = ['the cat sat', 'the cat ran', 'a dog sat', 'a dog ran', 'the bird flew', 'no one came'];
  const weights = [0.3, 0.25, 0.2, 0.1, 0.1, 0.05].map((w, i) => (i === 0 ? w - shift : i === 5 ? w + shift : w));
  const prompts: number[] = [];
  const completions: string[] = [];
  for (let r = 0; r < m; r++) {
    for (let s = 0; s < perPrompt; s++) {
      let u = rng.float();
      let k = 0;
      while (k < weights.length - 1 && u >= weights[k]) u -= weights[k++];
      prompts.push(r);
      completions.push(`${vocab[k]} ${r}`);
    }
  }
  return encodeChars(prompts, completions, 24, m);
}

/** The original's way: recompute the statistic from scratch for every permutation. */
function naivePermutation(x: ReturnType<typeof draw>, y: ReturnType<typeof draw>, b: number, seed: number) {
  const rng = new Rng(seed);
  const n1 = x.prompts.length;
  const n = n1 + y.prompts.length;
  const allPrompts = [...x.prompts, ...y.prompts];
  const rows = (i: number) => (i < n1 ? x.tokens.subarray(i * x.L, (i + 1) * x.L) : y.tokens.subarray((i - n1) * y.L, (i - n1 + 1) * y.L));
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const observed = statistic('mmd_hamming', x, y);
  let ge = 0;
  for (let t = 0; t < b; t++) {
    rng.shuffle(order);
    // Same labelling as the fast path: rows keep their pooled order, the first n1 of `order` are X*.
    const inX = new Uint8Array(n);
    for (let i = 0; i < n1; i++) inX[order[i]] = 1;
    const xs = [...Array(n).keys()].filter((i) => inX[i]);
    const ys = [...Array(n).keys()].filter((i) => !inX[i]);
    const build = (ids: number[]) => {
      const tokens = new Int32Array(ids.length * x.L);
      ids.forEach((id, k) => tokens.set(rows(id), k * x.L));
      return { L: x.L, m: x.m, prompts: Int32Array.from(ids.map((id) => allPrompts[id])), tokens };
    };
    if (statistic('mmd_hamming', build(xs), build(ys)) >= observed) ge++;
  }
  return ge / b;
}

test('the Gram-reusing permutation test equals recomputation per permutation', () => {
  const rng = new Rng(3);
  const x = draw(rng, 4, 6);
  const y = draw(rng, 4, 6, 0.15);
  const fast = permutationTest('mmd_hamming', x, y, { b: 200, seed: 11 });
  assert.equal(fast.pvalue, naivePermutation(x, y, 200, 11));
});

test('p-values are in [0, 1] with resolution 1/b, and the same seed gives the same p-value', () => {
  const rng = new Rng(5);
  const x = draw(rng, 3, 8);
  const y = draw(rng, 3, 8, 0.1);
  for (const name of TWO_SAMPLE_STATISTICS) {
    const a = permutationTest(name, x, y, { b: 50, seed: 9 });
    const b = permutationTest(name, x, y, { b: 50, seed: 9 });
    assert.equal(a.pvalue, b.pvalue, name);
    assert.ok(a.pvalue >= 0 && a.pvalue <= 1, name);
    assert.ok(Number.isInteger(Math.round(a.pvalue * 50 * 1e9) / 1e9), `${name}: ${a.pvalue} is a multiple of 1/50`);
  }
});

test('MMD of a sample against a shuffled copy of its own rows is the same as against itself', () => {
  const rng = new Rng(8);
  const x = draw(rng, 3, 5);
  const n = x.prompts.length;
  const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const tokens = new Int32Array(x.tokens.length);
  order.forEach((src, dst) => tokens.set(x.tokens.subarray(src * x.L, (src + 1) * x.L), dst * x.L));
  const shuffled = { ...x, prompts: Int32Array.from(order, (src) => x.prompts[src]), tokens };
  assert.ok(Math.abs(statistic('mmd_hamming', x, shuffled) - statistic('mmd_hamming', x, x)) < 1e-12);
});

test('MMD_Hamming x L does not depend on L once L covers every completion', () => {
  const xs = ['abc', 'abd', 'xy', 'xy'];
  const ys = ['abc', 'b', 'abc', 'xz', 'x'];
  const v = (L: number) => statistic('mmd_hamming', encodeChars([0, 0, 1, 1], xs, L), encodeChars([0, 0, 0, 1, 1], ys, L)) * L;
  assert.ok(Math.abs(v(4) - v(50)) < 1e-12 && Math.abs(v(4) - v(1000)) < 1e-12);
});

test('calibration: two samples of one distribution reject at about alpha (fixed seed)', () => {
  const rng = new Rng(2024);
  let rejections = 0;
  const repeats = 200;
  for (let rep = 0; rep < repeats; rep++) {
    const x = draw(rng, 5, 10);
    const y = draw(rng, 5, 10);
    if (permutationTest('mmd_hamming', x, y, { b: 100, seed: rep }).pvalue <= 0.05) rejections++;
  }
  const rate = rejections / repeats;
  assert.ok(rate >= 0.02 && rate <= 0.08, `rejection rate ${rate}`);
});

test('the bootstrap test rejects a shifted sample and not a sample of the reference', () => {
  const rng = new Rng(77);
  const reference = draw(rng, 5, 60);
  const same = bootstrapTest('mmd_hamming', draw(rng, 5, 20), draw(rng, 5, 20), reference, { b: 300, seed: 1 });
  const shifted = bootstrapTest('mmd_hamming', draw(rng, 5, 20), draw(rng, 5, 20, 0.25), reference, { b: 300, seed: 1 });
  assert.ok(same.pvalue > 0.05, `same: ${same.pvalue}`);
  assert.ok(shifted.pvalue <= 0.05, `shifted: ${shifted.pvalue}`);
});

test('clear errors instead of NaN and false rejections', () => {
  const x = encodeChars([0, 1], ['a', 'b'], 4);
  const y = encodeChars([0, 0, 1, 1], ['a', 'b', 'c', 'd'], 4);
  assert.throws(() => statistic('mmd_hamming', x, y), (e: unknown) => e instanceof MetError && /prompt 0 has one sample in X/.test(e.message));
  assert.throws(() => statistic('mmd_hamming', encodeChars([0, 0], ['a', 'b'], 4), encodeChars([1, 1], ['a', 'b'], 4)), /share no prompt/);
  assert.throws(() => statistic('mmd_hamming', encodeChars([], [], 4), y), /X is empty/);
  assert.throws(() => statistic('mmd_hamming', encodeChars([0, 0], ['a', 'b'], 4), encodeChars([0, 0], ['a', 'b'], 5)), /same L/);
});

test('power: a shifted alternative is detected more often with more samples; the null cell stays near alpha', async () => {
  const { simulateNulls, simulatePowerCell } = await import('../../stats/power');
  const rng = new Rng(12);
  const reference = draw(rng, 5, 80);
  const alternative = draw(rng, 5, 80, 0.2);
  const cell = (n: number, alt: typeof alternative | undefined) =>
    simulatePowerCell('mmd_hamming', reference, alt, simulateNulls('mmd_hamming', reference, n, { b: 200, seed: 1 }), { n, sims: 60, alpha: 0.05, seed: 2 });
  const small = cell(10, alternative);
  const large = cell(80, alternative);
  const nullCell = cell(80, undefined);
  assert.ok(large.power > small.power, `power ${small.power} -> ${large.power}`);
  assert.ok(large.power >= 0.8, `power at n = 80: ${large.power}`);
  assert.ok(nullCell.power <= 0.15, `type-I error ${nullCell.power}`);
  assert.deepEqual(cell(80, alternative).pvalues, large.pvalues, 'same seed, same cell');
});
