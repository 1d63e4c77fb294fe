import { ErrorTypes, MetError } from '../common/errors';
import { type CountStatistic, countStatistic, countsOf, uniqueRowIds } from './counts';
import type { KernelSpec } from './kernels';
import { checkDenominators, labelsOf, mmdFromParts, mmdParts, pool, type PooledSample } from './mmd';
import type { EncodedSample } from './types';

/**
 * The two-sample statistics by name. Each one is "prepared" once for a pair of samples (Gram blocks,
 * row ids) and then evaluated for any labelling of the pooled rows, which is what permutation tests
 * need. The name table is typed: a misspelled statistic does not compile.
 */
export const TWO_SAMPLE_STATISTICS = ['mmd_hamming', 'mmd_kspectrum', 'mmd_all_subsequences', 'two_sample_L1', 'two_sample_L2', 'two_sample_chi_squared'] as const;
export type TwoSampleStatistic = (typeof TWO_SAMPLE_STATISTICS)[number];

export interface StatisticOptions {
  /** k of the k-spectrum kernel (default 5). */
  k?: number;
  /** Count substrings of lengths 1..k (default true) or exactly k. */
  cumulative?: boolean;
}

export interface PreparedStatistic {
  n1: number;
  n2: number;
  /** The statistic for a labelling of the pooled rows (X first, then Y); checks denominators when asked. */
  evaluate(isX: Uint8Array, check?: boolean): number;
}

export function kernelOf(name: TwoSampleStatistic, options: StatisticOptions, L: number): KernelSpec | undefined {
  if (name === 'mmd_hamming') return { kind: 'hamming' };
  if (name === 'mmd_kspectrum') return { kind: 'kspectrum', k: options.k ?? 5, cumulative: options.cumulative ?? true };
  if (name === 'mmd_all_subsequences') return { kind: 'kspectrum', k: L, cumulative: true };
  return undefined;
}

export function isTwoSampleStatistic(name: string): name is TwoSampleStatistic {
  return (TWO_SAMPLE_STATISTICS as readonly string[]).includes(name);
}

export function prepare(name: TwoSampleStatistic, x: EncodedSample, y: EncodedSample, options: StatisticOptions = {}): PreparedStatistic {
  if (!isTwoSampleStatistic(name)) throw new MetError(ErrorTypes.BadInput, `unknown statistic '${name}' (known: ${TWO_SAMPLE_STATISTICS.join(', ')})`);
  const kernel = kernelOf(name, options, x.L);
  if (kernel) {
    const pooled: PooledSample = pool(x, y, kernel);
    return {
      n1: pooled.n1,
      n2: pooled.n2,
      evaluate(isX, check = false) {
        const parts = mmdParts(pooled, isX);
        if (check) checkDenominators(parts, pooled, isX);
        return mmdFromParts(parts);
      },
    };
  }
  if (x.prompts.length === 0 || y.prompts.length === 0) throw new MetError(ErrorTypes.BadInput, `${x.prompts.length === 0 ? 'X' : 'Y'} is empty: both samples need rows`);
  const { ids, unique } = uniqueRowIds(x, y);
  return {
    n1: x.prompts.length,
    n2: y.prompts.length,
    evaluate(isX) {
      const c = countsOf(ids, unique, isX);
      return countStatistic(name as CountStatistic, c.c1, c.c2, c.n1, c.n2);
    },
  };
}

/** One statistic of X against Y. */
export function statistic(name: TwoSampleStatistic, x: EncodedSample, y: EncodedSample, options: StatisticOptions = {}): number {
  const prepared = prepare(name, x, y, options);
  const isX = new Uint8Array(prepared.n1 + prepared.n2).fill(1, 0, prepared.n1);
  return prepared.evaluate(isX, true);
}

export { labelsOf };
