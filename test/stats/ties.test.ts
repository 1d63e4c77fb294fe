import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveSeed, encodeChars, permutationTest, Rng } from '../../stats';
import type { CountStatistic } from '../../stats/counts';

/**
 * Ties in the count statistics' permutation test. With L = 1 and a vocabulary of 3, most null
 * statistics equal the observed one exactly; in float64 some of them came out a few ulps lower
 * (the same terms summed in another order) and were not counted as >= observed. Here every
 * p-value is checked against an exact integer count over the same permutations.
 */
const M = 4; // prompts
const N = 15; // samples per prompt per side, on average
const B = 200; // permutations
const REPLICATES = 200;
const VOCAB = ['a', 'b', 'c'];
const PROBS = [0.5, 0.3, 0.2];

function draw(rng: Rng): { prompts: number[]; completions: string[] } {
  const prompts: number[] = [];
  const completions: string[] = [];
  // As in MET: each sample's prompt is drawn (uniformly) too, so X and Y are exchangeable under the null.
  for (let i = 0; i < M * N; i++) {
    const u = rng.float();
    prompts.push(rng.int(M));
    completions.push(VOCAB[u < PROBS[0] ? 0 : u < PROBS[0] + PROBS[1] ? 1 : 2]);
  }
  return { prompts, completions };
}

const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));

/**
 * The statistic of a labelling in exact arithmetic, scaled by a positive constant that depends only
 * on the pooled sample (so comparisons between labellings are exact):
 *   L1 x N1 N2 = sum |N2 c1 - N1 c2|,  L2 x (N1 N2)^2 = sum (N2 c1 - N1 c2)^2,
 *   chi-squared x lcm(c1 + c2) = sum [(N2 c1 - N1 c2)^2 - N2^2 c1 - N1^2 c2] lcm / (c1 + c2).
 */
function exactScaled(name: CountStatistic, ids: number[], order: Int32Array, n1: number, n2: number, unique: number): bigint {
  const c1 = new Array<number>(unique).fill(0);
  const total = new Array<number>(unique).fill(0);
  for (const id of ids) total[id]++;
  for (let t = 0; t < n1; t++) c1[ids[order[t]]]++;
  let lcm = 1n;
  for (const tot of total) if (tot > 0) lcm = (lcm * BigInt(tot)) / gcd(lcm, BigInt(tot));
  let s = 0n;
  for (let u = 0; u < unique; u++) {
    const a = BigInt(c1[u]);
    const b = BigInt(total[u] - c1[u]);
    const d = BigInt(n2) * a - BigInt(n1) * b;
    if (name === 'two_sample_L1') s += d < 0n ? -d : d;
    else if (name === 'two_sample_L2') s += d * d;
    else if (a + b > 0n) s += ((d * d - BigInt(n2 * n2) * a - BigInt(n1 * n1) * b) * lcm) / (a + b);
  }
  return s;
}

function exactPvalue(
  name: CountStatistic,
  x: { prompts: number[]; completions: string[] },
  y: { prompts: number[]; completions: string[] },
  seed: number,
): number {
  const pooled = [...x.prompts.map((p, i) => `${p}|${x.completions[i]}`), ...y.prompts.map((p, i) => `${p}|${y.completions[i]}`)];
  const idOf = new Map<string, number>();
  const ids = pooled.map((k) => idOf.get(k) ?? (idOf.set(k, idOf.size), idOf.size - 1));
  const n1 = x.prompts.length;
  const n2 = y.prompts.length;
  const identity = Int32Array.from({ length: n1 + n2 }, (_, i) => i);
  const observed = exactScaled(name, ids, identity, n1, n2, idOf.size);
  let ge = 0;
  for (let t = 0; t < B; t++) {
    // The permutation the library draws for null t (stats/pvalue.ts, permutationNulls).
    const order = Int32Array.from({ length: n1 + n2 }, (_, i) => i);
    new Rng(deriveSeed(seed, t)).shuffle(order);
    if (exactScaled(name, ids, order, n1, n2, idOf.size) >= observed) ge++;
  }
  return ge / B;
}

for (const name of ['two_sample_L1', 'two_sample_L2', 'two_sample_chi_squared'] as const) {
  test(`${name}: p-values on heavily tied data equal an exact count of >= ties, and type-I error over ${REPLICATES} replicates is in [0.02, 0.08]`, () => {
    const rng = new Rng(20260101);
    let rejections = 0;
    let mismatches = 0;
    const first: string[] = [];
    for (let rep = 0; rep < REPLICATES; rep++) {
      const x = draw(rng);
      const y = draw(rng);
      const seed = 1000 + rep;
      const r = permutationTest(name, encodeChars(x.prompts, x.completions, 1, M), encodeChars(y.prompts, y.completions, 1, M), { b: B, seed });
      const exact = exactPvalue(name, x, y, seed);
      if (r.pvalue !== exact) {
        mismatches++;
        if (first.length < 5) first.push(`replicate ${rep}: p ${r.pvalue} vs exact ${exact}`);
      }
      if (r.pvalue <= 0.05) rejections++;
    }
    assert.equal(mismatches, 0, `p-values that miscount ties:\n${first.join('\n')}`);
    const typeI = rejections / REPLICATES;
    assert.ok(typeI >= 0.02 && typeI <= 0.08, `type-I error ${typeI} at alpha 0.05`);
  });
}
