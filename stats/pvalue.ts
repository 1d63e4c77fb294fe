import { ErrorTypes, MetError } from '../common/errors';
import { checkSeed, deriveSeed, Rng } from './rng';
import { type Draw, type PromptChoice, promptChoice, StoredPools } from './sampler';
import { type PreparedTwoSample, prepareTwoSample, type StatisticOptions, type TwoSampleStatistic } from './statistics';
import type { EncodedSample } from './types';

/**
 * p-values. p = #(null statistics >= observed) / b: ties count (within TIE_TOLERANCE), no +1; reject when p <= alpha.
 * A null statistic with a zero denominator (NaN: a relabelling or draw that left no prompt with two
 * rows on a side) never counts as >= observed, as in the original; results report how many there
 * were (`undefinedNulls`) so the caller can see it.
 *
 * Permutation (as the original): pool the rows of X then Y; permutation t shuffles the identity
 * order with Fisher-Yates under Rng(deriveSeed(seed, t)), unstratified; order[0 .. N1) is X*.
 * Only labels change, so the prepared statistic (Gram blocks / row ids) is reused.
 *
 * Parametric bootstrap: draw t samples X* (n1 rows) then Y* (n2 rows) from the stored reference
 * under Rng(deriveSeed(seed, t)) (sampler.ts: multinomial prompt counts, rows with replacement).
 * Draws index into a Gram computed once over the reference's rows.
 *
 * Seeding every draw by its index makes the null statistics independent of how they are split
 * across worker threads.
 */
/**
 * Relative tolerance of ">= observed". A null statistic equal to the observed one in exact
 * arithmetic can come out a few ulps below it in float64 when its sum runs over the same terms in
 * another order (count statistics with many ties): without it such ties were counted at random.
 */
export const TIE_TOLERANCE = 1e-9;

export function pvalueFrom(observed: number, nulls: Float64Array): number {
  if (Number.isNaN(observed)) throw new MetError(ErrorTypes.BadInput, 'the observed statistic is undefined (NaN): no p-value');
  const threshold = observed - TIE_TOLERANCE * Math.max(1, Math.abs(observed));
  let ge = 0;
  for (let t = 0; t < nulls.length; t++) if (nulls[t] >= threshold) ge++;
  return ge / nulls.length;
}

export function countUndefined(nulls: Float64Array): number {
  let k = 0;
  for (let t = 0; t < nulls.length; t++) if (Number.isNaN(nulls[t])) k++;
  return k;
}

export function checkB(b: number): void {
  if (!Number.isInteger(b) || b < 1) throw new MetError(ErrorTypes.BadInput, `b (the number of null statistics) must be a positive integer, got ${b}`);
}

export interface TestResult {
  statistic: number;
  pvalue: number;
  b: number;
  nulls: Float64Array;
  /** Null statistics that were undefined (zero denominators); they never count as >= observed. */
  undefinedNulls: number;
}

/** Null statistics t in [from, to) of a permutation test. */
export function permutationNulls(prepared: PreparedTwoSample, seed: number, from: number, to: number): Float64Array {
  const N = prepared.n1 + prepared.n2;
  const order = new Int32Array(N);
  const nulls = new Float64Array(to - from);
  for (let t = from; t < to; t++) {
    for (let i = 0; i < N; i++) order[i] = i;
    new Rng(deriveSeed(seed, t)).shuffle(order);
    nulls[t - from] = prepared.value(order);
  }
  return nulls;
}

export function permutationTest(
  name: TwoSampleStatistic,
  x: EncodedSample,
  y: EncodedSample,
  options: StatisticOptions & { b: number; seed: number; gramBudgetBytes?: number },
): TestResult {
  checkB(options.b);
  checkSeed(options.seed);
  const prepared = prepareTwoSample(name, x, y, options);
  const nulls = permutationNulls(prepared, options.seed, 0, options.b);
  return result(prepared.observed, nulls);
}

export function result(observed: number, nulls: Float64Array): TestResult {
  return { statistic: observed, pvalue: pvalueFrom(observed, nulls), b: nulls.length, nulls, undefinedNulls: countUndefined(nulls) };
}

export interface BootstrapOptions extends StatisticOptions {
  b: number;
  seed: number;
  /** Prompts the null samples are drawn over (default all of the reference's prompts). */
  prompts?: ArrayLike<number>;
  /** Prompt probabilities pi, aligned with `prompts` (default uniform). */
  promptWeights?: ArrayLike<number>;
  gramBudgetBytes?: number;
}

/** Null draws t in [from, to) of source `source` of stored pools: X* (n1 rows) then Y* (n2 rows). */
export function bootstrapDraws(
  pools: StoredPools,
  source: number,
  sizes: { n1: number; n2: number },
  choice: PromptChoice,
  seed: number,
  from: number,
  to: number,
): Float64Array {
  const x: Draw = pools.newDraw(sizes.n1, choice);
  const y: Draw = pools.newDraw(sizes.n2, choice);
  const nulls = new Float64Array(to - from);
  for (let t = from; t < to; t++) {
    const rng = new Rng(deriveSeed(seed, t));
    pools.draw(rng, source, sizes.n1, choice, x);
    pools.draw(rng, source, sizes.n2, choice, y);
    nulls[t - from] = pools.statistic(x, y, choice);
  }
  return nulls;
}

export function checkSizes(sizes: { n1: number; n2: number }): void {
  for (const [k, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1) throw new MetError(ErrorTypes.BadInput, `${k} (rows per null sample) must be a positive integer, got ${v}`);
  }
}

/**
 * b null statistics of the parametric bootstrap: both samples drawn from the stored reference.
 * Reusable across every sample tested against this reference at these sizes (cache it).
 */
export function bootstrapNulls(name: TwoSampleStatistic, reference: EncodedSample, sizes: { n1: number; n2: number }, options: BootstrapOptions): Float64Array {
  checkB(options.b);
  checkSeed(options.seed);
  checkSizes(sizes);
  const pools = new StoredPools(name, [reference], { ...options, names: ['the reference'] });
  let m = pools.m;
  if (options.prompts) for (let k = 0; k < options.prompts.length; k++) if (Number.isInteger(options.prompts[k])) m = Math.max(m, options.prompts[k] + 1);
  const choice = promptChoice(m, options.prompts, options.promptWeights);
  pools.checkCovers(0, choice, 'the reference');
  return bootstrapDraws(pools, 0, sizes, choice, options.seed, 0, options.b);
}

/** Observed statistic of (X, Y) against null statistics drawn from the stored reference. */
export function bootstrapTest(name: TwoSampleStatistic, x: EncodedSample, y: EncodedSample, reference: EncodedSample, options: BootstrapOptions): TestResult {
  if (reference.L !== x.L)
    throw new MetError(ErrorTypes.BadInput, `the reference is encoded with L = ${reference.L} and the samples with L = ${x.L}: use one L`);
  checkB(options.b);
  checkSeed(options.seed);
  const prepared = prepareTwoSample(name, x, y, options);
  const nulls = bootstrapNulls(
    name,
    reference,
    { n1: prepared.n1, n2: prepared.n2 },
    { ...options, prompts: options.prompts ?? samplePrompts(x, y, reference) },
  );
  return result(prepared.observed, nulls);
}

/**
 * The prompts null samples are drawn over by default: 0 .. m - 1 for the largest m of the samples
 * and the reference, so a prompt the samples use but the reference lacks is an error, not ignored.
 */
export function samplePrompts(x: EncodedSample, y: EncodedSample, reference: EncodedSample): Int32Array {
  let m = Math.max(x.m, y.m, reference.m);
  for (const s of [x, y]) for (let i = 0; i < s.prompts.length; i++) m = Math.max(m, s.prompts[i] + 1);
  return Int32Array.from({ length: m }, (_, r) => r);
}

/** Composite null (two acceptable references): reject only if the test rejects against both. */
export function compositeDecision(pvalues: readonly [number, number], alpha: number): { reject: boolean; pvalue: number } {
  const pvalue = Math.max(pvalues[0], pvalues[1]);
  return { reject: pvalues[0] <= alpha && pvalues[1] <= alpha, pvalue };
}
