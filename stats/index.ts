/**
 * met's statistics engine: pure functions over typed arrays (no Temporal, files or clocks), usable
 * from tests, benchmarks, activities and worker threads.
 *
 *   encodeChars / encodeTokens      completions -> EncodedSample (code points or token ids, padded to L)
 *   statistic(name, x, y)           one two-sample statistic (mmd_hamming, mmd_kspectrum, ...)
 *   permutationTest / bootstrapTest p-values (p = #(null >= observed) / b)
 *   bootstrapNulls                  null statistics from a reference pool, cacheable per cell
 *   oneSample*                      goodness of fit against a reference with log-probabilities
 *   twoSampleTest                   the high-level call the CLI, workflows and the API use
 */
import { bootstrapTest, permutationTest } from './pvalue';
import type { StatisticOptions, TwoSampleStatistic } from './statistics';
import type { EncodedSample } from './types';

export * from './encode';
export * from './statistics';
export * from './pvalue';
export * from './oneSample';
export { Rng } from './rng';
export type { EncodedSample, Unit } from './types';

export interface TwoSampleTestInput extends StatisticOptions {
  x: EncodedSample;
  y: EncodedSample;
  stat: TwoSampleStatistic;
  pvalue: 'permutation' | 'bootstrap';
  b: number;
  seed: number;
  /** The stored reference distribution the bootstrap draws null samples from. */
  reference?: EncodedSample;
}

export interface TwoSampleTestResult {
  statistic: number;
  pvalue: number;
  b: number;
  n1: number;
  n2: number;
  seconds: number;
  nulls: Float64Array;
}

export function twoSampleTest(input: TwoSampleTestInput): TwoSampleTestResult {
  const t0 = performance.now();
  const options = { k: input.k, cumulative: input.cumulative, b: input.b, seed: input.seed };
  let r;
  if (input.pvalue === 'bootstrap') {
    if (!input.reference) throw new Error('a bootstrap p-value needs a reference sample to draw null samples from');
    r = bootstrapTest(input.stat, input.x, input.y, input.reference, options);
  } else {
    r = permutationTest(input.stat, input.x, input.y, options);
  }
  return { ...r, b: input.b, n1: input.x.prompts.length, n2: input.y.prompts.length, seconds: (performance.now() - t0) / 1000 };
}
export * from './power';
export { DrawSampler } from './draws';
