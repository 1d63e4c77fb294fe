/**
 * met's statistics engine: the tests of Model Equality Testing (Gao, Liang, Guestrin 2024) as pure
 * functions over typed arrays (no Temporal, files or clock inside), usable from tests, benchmarks,
 * activities and worker threads. Numbers agree with the original package (model-equality-testing
 * 0.0.2); where the original silently returns NaN (and then p = 0, a false rejection) met throws a
 * MetError saying what to fix.
 *
 *   encodeChars / encodeTokens       completions -> EncodedSample (code points or token ids, padded to L)
 *   statistic(name, x, y, opts)      one two-sample statistic (twoSampleStatistics is the typed name table)
 *   permutationTest / bootstrapTest  p = #(null >= observed) / b, seeded
 *   bootstrapNulls                   null statistics from a stored reference, cacheable
 *   nullDistribution / observedCounts / oneSampleStatistic / oneSampleTest
 *                                    goodness of fit against a reference with log-probabilities
 *   PowerSimulator, simulateNulls, simulatePowerCell, simulateCompositePowerCell
 *                                    power cells over one pooled Gram per prompt
 *   twoSampleTest                    the call the CLI, workflows and the API use (below)
 *   twoSampleTestParallel            the same, split across worker_threads for large jobs
 *
 * Reproducibility: every random draw comes from Rng (xoshiro128**) seeded by deriveSeed(seed, t)
 * for draw t, so a result is a function of its inputs and seed only, whatever the thread count.
 */
import { ErrorTypes, MetError } from '../common/errors';
import { bootstrapTest, permutationTest, type TestResult } from './pvalue';
import type { StatisticOptions, TwoSampleStatistic } from './statistics';
import type { EncodedSample } from './types';

export * from './encode';
export * from './statistics';
export * from './pvalue';
export * from './oneSample';
export * from './power';
export { Rng, deriveSeed } from './rng';
export type { EncodedSample, Unit } from './types';
export type { KernelSpec } from './kernels';

export interface TwoSampleTestInput extends StatisticOptions {
  x: EncodedSample;
  y: EncodedSample;
  stat: TwoSampleStatistic;
  /** 'permutation' (X and Y pooled and relabelled) or 'bootstrap' (null samples drawn from `reference`). */
  pvalue: 'permutation' | 'bootstrap';
  /** Number of null statistics (the original's default is 1000). */
  b: number;
  seed: number;
  /** The stored reference distribution the bootstrap draws null samples from. */
  reference?: EncodedSample;
}

export interface TwoSampleTestResult extends TestResult {
  n1: number;
  n2: number;
  seconds: number;
}

function runTest(input: TwoSampleTestInput): TestResult {
  const options = { k: input.k, cumulative: input.cumulative, b: input.b, seed: input.seed };
  if (input.pvalue === 'bootstrap') {
    if (!input.reference) throw new MetError(ErrorTypes.BadInput, 'a bootstrap p-value needs a reference sample to draw null samples from');
    return bootstrapTest(input.stat, input.x, input.y, input.reference, options);
  }
  if (input.pvalue !== 'permutation') throw new MetError(ErrorTypes.BadInput, `unknown p-value '${input.pvalue as string}' (permutation or bootstrap)`);
  return permutationTest(input.stat, input.x, input.y, options);
}

/**
 * One two-sample test in this thread: the statistic of X against Y and its p-value from b null
 * statistics. Returns {statistic, pvalue, b, seconds, n1, n2} plus the null statistics and how many
 * of them were undefined.
 */
export function twoSampleTest(input: TwoSampleTestInput): TwoSampleTestResult {
  const t0 = performance.now();
  const r = runTest(input);
  return { ...r, n1: input.x.prompts.length, n2: input.y.prompts.length, seconds: (performance.now() - t0) / 1000 };
}
