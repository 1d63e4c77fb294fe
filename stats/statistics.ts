import { ErrorTypes, MetError } from '../common/errors';
import { type BlockPool, buildBlockPool, checkCompatible, DEFAULT_GRAM_BUDGET_BYTES, gramBudgetCheck, planBlocks } from './blocks';
import { type CountStatistic, PermutationCounts, uniqueRowIds } from './counts';
import { padOf } from './encode';
import { gatherRows, kernelGram, kernelScale, type KernelSpec, sameKernel, spectrumKernel } from './kernels';
import { checkMmdDenominators, crossSum, type MmdSums, mmdValue, pairSum, PermutationMmd } from './mmd';
import type { EncodedSample } from './types';

// Imports nothing from Node: workflow code reaches this module through config/powerSpec.ts.

/**
 * The two-sample statistics by name. The name table is a typed record keyed by the union of names,
 * so a misspelled statistic does not compile; `isTwoSampleStatistic` checks names from outside
 * (JSON, CLI flags).
 */
export const TWO_SAMPLE_STATISTICS = [
  'mmd_hamming',
  'mmd_kspectrum',
  'mmd_all_subsequences',
  'two_sample_L1',
  'two_sample_L2',
  'two_sample_chi_squared',
] as const;
export type TwoSampleStatistic = (typeof TWO_SAMPLE_STATISTICS)[number];

export interface StatisticOptions {
  /** k of mmd_kspectrum (default 5). */
  k?: number;
  /** mmd_kspectrum counts substrings of lengths 1..k (default true) or exactly k. */
  cumulative?: boolean;
}

type TwoSampleFunction = (x: EncodedSample, y: EncodedSample, options?: StatisticOptions) => number;

/** name -> function; every entry returns the original's number or throws a MetError saying why not. */
export const twoSampleStatistics: Record<TwoSampleStatistic, TwoSampleFunction> = {
  mmd_hamming: (x, y) => mmdStatistic(x, y, { kind: 'hamming' }),
  mmd_kspectrum: (x, y, o = {}) => mmdStatistic(x, y, spectrumKernel(o.k ?? 5, o.cumulative ?? true)),
  mmd_all_subsequences: (x, y) => mmdStatistic(x, y, spectrumKernel(x.L, true)),
  two_sample_L1: (x, y) => countTwoSample('two_sample_L1', x, y),
  two_sample_L2: (x, y) => countTwoSample('two_sample_L2', x, y),
  two_sample_chi_squared: (x, y) => countTwoSample('two_sample_chi_squared', x, y),
};

/** The kernel of an MMD statistic (undefined for the count statistics). */
export function kernelOf(name: TwoSampleStatistic, options: StatisticOptions, L: number): KernelSpec | undefined {
  switch (name) {
    case 'mmd_hamming':
      return { kind: 'hamming' };
    case 'mmd_kspectrum':
      return spectrumKernel(options.k ?? 5, options.cumulative ?? true);
    case 'mmd_all_subsequences':
      // The original sets k = L: every contiguous substring, despite the name.
      return spectrumKernel(L, true);
    default:
      return undefined;
  }
}

export function isTwoSampleStatistic(name: string): name is TwoSampleStatistic {
  return (TWO_SAMPLE_STATISTICS as readonly string[]).includes(name);
}

function checkName(name: string): asserts name is TwoSampleStatistic {
  if (!isTwoSampleStatistic(name)) throw new MetError(ErrorTypes.BadInput, `unknown statistic '${name}' (known: ${TWO_SAMPLE_STATISTICS.join(', ')})`);
}

function checkNotEmpty(x: EncodedSample, y: EncodedSample): void {
  if (x.prompts.length === 0 || y.prompts.length === 0)
    throw new MetError(ErrorTypes.BadInput, `${x.prompts.length === 0 ? 'X' : 'Y'} is empty: both samples need rows`);
}

/** One statistic of X against Y. */
export function statistic(name: TwoSampleStatistic, x: EncodedSample, y: EncodedSample, options: StatisticOptions = {}): number {
  checkName(name);
  return twoSampleStatistics[name](x, y, options);
}

/**
 * The MMD of X against Y, one prompt block at a time (only one block is held in memory, so a
 * single statistic at 10,000 rows per side needs one prompt's block, not all of them).
 */
export function mmdStatistic(x: EncodedSample, y: EncodedSample, kernel: KernelSpec): number {
  checkCompatible([x, y], ['X', 'Y']);
  checkNotEmpty(x, y);
  const { plans } = planBlocks([x, y]);
  const L = x.L;
  const pad = padOf(x);
  // One block at a time: only the largest must fit.
  gramBudgetCheck([plans.reduce((a, p) => (p.sourceOf.length > a.sourceOf.length ? p : a), plans[0])], kernel, L, DEFAULT_GRAM_BUDGET_BYTES);
  const sums: MmdSums = { sxx: 0, syy: 0, sxy: 0, dxx: 0, dyy: 0, dxy: 0 };
  const locals = new Int32Array(plans.reduce((a, p) => Math.max(a, p.sourceOf.length), 0));
  for (let i = 0; i < locals.length; i++) locals[i] = i;
  for (const plan of plans) {
    const n = plan.sourceOf.length;
    const a = plan.sourceStart[1];
    const c = n - a;
    sums.dxx += a * (a - 1);
    sums.dyy += c * (c - 1);
    sums.dxy += a * c;
    if (n < 2) continue;
    const gram = kernelGram(gatherRows([x, y], plan.sourceOf, plan.rowOf), n, L, pad, kernel);
    sums.sxx += 2 * pairSum(gram, n, locals, 0, a);
    sums.syy += 2 * pairSum(gram, n, locals, a, c);
    sums.sxy += crossSum(gram, n, locals, 0, a, locals, a, c);
  }
  checkMmdDenominators(sums, x.prompts, y.prompts);
  return mmdValue(sums, kernelScale(kernel, L));
}

export function countTwoSample(name: CountStatistic, x: EncodedSample, y: EncodedSample): number {
  checkCompatible([x, y], ['X', 'Y']);
  checkNotEmpty(x, y);
  const { ids, unique } = uniqueRowIds([x, y]);
  const pooled = new Int32Array(ids[0].length + ids[1].length);
  pooled.set(ids[0], 0);
  pooled.set(ids[1], ids[0].length);
  return new PermutationCounts(name, pooled, unique, x.prompts.length, y.prompts.length).value(identity(pooled.length));
}

/**
 * A statistic prepared once for a pair of samples (Gram blocks, row ids) and evaluated for any
 * relabelling of the pooled rows (X then Y): `value(order)` takes order[0 .. n1) as X*.
 */
export interface PreparedTwoSample {
  n1: number;
  n2: number;
  /** The observed statistic (checked: a zero denominator throws instead of giving NaN). */
  observed: number;
  value(order: Int32Array): number;
  /** The Gram blocks (MMD statistics), for handing to worker threads. */
  pool?: BlockPool;
}

export function prepareTwoSample(
  name: TwoSampleStatistic,
  x: EncodedSample,
  y: EncodedSample,
  options: StatisticOptions & { pool?: BlockPool; gramBudgetBytes?: number } = {},
): PreparedTwoSample {
  checkName(name);
  checkCompatible([x, y], ['X', 'Y']);
  checkNotEmpty(x, y);
  const n1 = x.prompts.length;
  const n2 = y.prompts.length;
  const kernel = kernelOf(name, options, x.L);
  if (kernel) {
    if (options.pool && !sameKernel(options.pool.kernel, kernel)) {
      throw new MetError(ErrorTypes.BadInput, `the given Gram blocks were built for another kernel than ${name}'s`);
    }
    const pool = options.pool ?? buildBlockPool([x, y], kernel, { gramBudgetBytes: options.gramBudgetBytes ?? DEFAULT_GRAM_BUDGET_BYTES });
    const mmd = new PermutationMmd(pool);
    const sums = mmd.sums(identity(n1 + n2));
    checkMmdDenominators(sums, x.prompts, y.prompts);
    return { n1, n2, observed: mmdValue(sums, pool.scale), value: (order) => mmd.value(order), pool };
  }
  const { ids, unique } = uniqueRowIds([x, y]);
  const pooled = new Int32Array(n1 + n2);
  pooled.set(ids[0], 0);
  pooled.set(ids[1], n1);
  const counts = new PermutationCounts(name as CountStatistic, pooled, unique, n1, n2);
  return { n1, n2, observed: counts.value(identity(n1 + n2)), value: (order) => counts.value(order) };
}

export function identity(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}
