import { ErrorTypes, MetError } from '../common/errors';
import { bootstrapTest, permutationTest, type TestResult } from './pvalue';
import type { StatisticOptions, TwoSampleStatistic } from './statistics';
import type { EncodedSample } from './types';

// One two-sample test in one thread: its own module, so the worker thread (worker.ts) imports it
// without importing index.ts, which imports parallel.ts, which starts worker.ts.

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
