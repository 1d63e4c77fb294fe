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
 *   compositeTest                    two acceptable references: reject only if both tests reject
 *   rutTest, completionScore         the rank-based uniformity test (Zhu et al. 2025): one target completion per prompt,
 *                                    its percentile rank among k reference completions' scores, Cramér–von Mises
 *
 * Example:
 *   const x = encodeChars(xPrompts, xCompletions, 1000);
 *   const y = encodeChars(yPrompts, yCompletions, 1000);
 *   const r = twoSampleTest({ x, y, stat: 'mmd_hamming', pvalue: 'permutation', b: 1000, seed: 1 });
 *   // r.statistic, r.pvalue, r.b, r.seconds, r.n1, r.n2 (and r.nulls, r.undefinedNulls)
 *
 * Speed: the MMD kernel is zero across prompts, so each prompt gets one Gram block over its pooled
 * rows, computed once (kernels.ts, hamming.ts, kspectrum.ts); a permutation is a re-sum over the
 * blocks (mmd.ts) and a bootstrap or power draw a list of indices into them (sampler.ts). Memory
 * is the blocks, sum over prompts of n_r^2 entries (2 bytes each for Hamming), capped by
 * gramBudgetBytes (2 GiB by default) with a clear error.
 *
 * Reproducibility: every random draw comes from Rng (xoshiro128**) seeded by deriveSeed(seed, t)
 * for draw t, so a result is a function of its inputs and seed only, whatever the thread count.
 */
import { ErrorTypes, MetError } from '../common/errors';
import { planBlocks } from './blocks';
import {
  bootstrapDrawsShared,
  buildBlockPoolShared,
  DEFAULT_MIN_WORK,
  drawCost,
  type ParallelOptions,
  permutationNullsShared,
  poolCost,
  threadsOf,
  withWorkers,
} from './parallel';
import { type NullsRequest, PowerSimulator, type PowerSources } from './power';
import { checkB, checkSizes, compositeDecision, result, samplePrompts } from './pvalue';
import { checkSeed, deriveSeed } from './rng';
import { promptChoice, StoredPools } from './sampler';
import { kernelOf, prepareTwoSample, type StatisticOptions, type TwoSampleStatistic } from './statistics';
import { twoSampleTest, type TwoSampleTestInput, type TwoSampleTestResult } from './twoSample';
import type { EncodedSample } from './types';

export * from './encode';
export * from './statistics';
export * from './pvalue';
export * from './oneSample';
export * from './power';
export * from './rut';
export * from './mixture';
export { Rng, deriveSeed } from './rng';
export type { ParallelOptions } from './parallel';
export { oneSampleTestInThread, twoSampleTestInThread } from './parallel';
export type { EncodedSample, Unit } from './types';
export type { KernelSpec } from './kernels';
export { twoSampleTest, type TwoSampleTestInput, type TwoSampleTestResult } from './twoSample';

/**
 * twoSampleTest split across worker_threads when the job is large (Gram blocks built by prompt,
 * permutations or bootstrap draws by index range); small jobs stay in this thread. The numbers are
 * those of twoSampleTest for the same input and seed, whatever the thread count.
 */
export async function twoSampleTestParallel(input: TwoSampleTestInput, parallel: ParallelOptions = {}): Promise<TwoSampleTestResult> {
  const t0 = performance.now();
  const kernel = kernelOf(input.stat, input, input.x.L);
  const threads = threadsOf(parallel);
  if (!kernel || threads === 1) return twoSampleTest(input);
  checkB(input.b);
  checkSeed(input.seed);
  if (input.pvalue === 'bootstrap' && !input.reference)
    throw new MetError(ErrorTypes.BadInput, 'a bootstrap p-value needs a reference sample to draw null samples from');
  if (input.pvalue !== 'permutation' && input.pvalue !== 'bootstrap')
    throw new MetError(ErrorTypes.BadInput, `unknown p-value '${input.pvalue as string}' (permutation or bootstrap)`);
  const n1 = input.x.prompts.length;
  const n2 = input.y.prompts.length;
  let work = poolCost([input.x, input.y], kernel);
  if (input.pvalue === 'permutation') {
    const sizes = planBlocks([input.x, input.y]).plans.map((p) => p.sourceOf.length);
    work += input.b * (2 * (n1 + n2) + sizes.reduce((a, n) => a + (n * n) / (kernel.kind === 'hamming' ? 8 : 2), 0));
  } else {
    work += poolCost([input.reference!], kernel) + (input.b * (n1 + n2) ** 2) / (2 * Math.max(1, input.reference!.m));
  }
  const use = work >= (parallel.minWork ?? DEFAULT_MIN_WORK) ? threads : 1;
  const r = await withWorkers(use, async (group) => {
    const pool = await buildBlockPoolShared([input.x, input.y], kernel, group);
    const prepared = prepareTwoSample(input.stat, input.x, input.y, { ...input, pool });
    if (input.pvalue === 'permutation') return result(prepared.observed, await permutationNullsShared(prepared, input.seed, input.b, group));
    const reference = input.reference!;
    if (reference.L !== input.x.L)
      throw new MetError(ErrorTypes.BadInput, `the reference is encoded with L = ${reference.L} and the samples with L = ${input.x.L}: use one L`);
    const pools = new StoredPools(input.stat, [reference], {
      ...input,
      names: ['the reference'],
      pool: await buildBlockPoolShared([reference], kernel, group),
    });
    const choice = promptChoice(Math.max(pools.m, input.x.m, input.y.m), samplePrompts(input.x, input.y, reference));
    pools.checkCovers(0, choice, 'the reference');
    return result(prepared.observed, await bootstrapDrawsShared(pools, 0, { n1, n2 }, choice, input.seed, input.b, group));
  });
  return { ...r, n1, n2, seconds: (performance.now() - t0) / 1000 };
}

/**
 * A PowerSimulator whose Gram blocks are built across worker_threads when the pools are large
 * (cells and nulls are index sums over them; see simulateNullsParallel for large null batches).
 */
export async function createPowerSimulator(
  name: TwoSampleStatistic,
  sources: PowerSources,
  options: StatisticOptions & ParallelOptions = {},
): Promise<PowerSimulator> {
  const samples = [...sources.references, ...(sources.alternatives ?? [])];
  const kernel = kernelOf(name, options, samples[0]?.L ?? 1);
  const threads = threadsOf(options);
  if (!kernel || threads === 1 || poolCost(samples, kernel) < (options.minWork ?? DEFAULT_MIN_WORK)) return new PowerSimulator(name, sources, options);
  const pool = await withWorkers(threads, (group) => buildBlockPoolShared(samples, kernel, group));
  return new PowerSimulator(name, sources, { ...options, pool });
}

/** A simulator's null statistics, split across worker_threads when the batch is large. */
export async function simulateNullsParallel(simulator: PowerSimulator, request: NullsRequest, parallel: ParallelOptions = {}): Promise<Float64Array> {
  const { source, choice } = simulator.nullsPlan(request);
  const sizes = { n1: request.n, n2: request.n };
  checkSizes(sizes);
  const threads = threadsOf(parallel);
  const use = drawCost(simulator.pools, sizes, choice, request.b) >= (parallel.minWork ?? DEFAULT_MIN_WORK) ? threads : 1;
  return withWorkers(use, (group) => bootstrapDrawsShared(simulator.pools, source, sizes, choice, request.seed, request.b, group));
}

export interface CompositeTestInput extends StatisticOptions {
  /** The sample under test (e.g. from the API). */
  y: EncodedSample;
  /** One sample from each acceptable reference (e.g. fp32 and fp16 of the claimed model). */
  x: [EncodedSample, EncodedSample];
  /** Stored pools of the two references, for bootstrap p-values. */
  references?: [EncodedSample, EncodedSample];
  stat: TwoSampleStatistic;
  pvalue: 'permutation' | 'bootstrap';
  b: number;
  seed: number;
  alpha: number;
}

export interface CompositeTestResult {
  /** X1 vs Y and X2 vs Y. */
  tests: [TwoSampleTestResult, TwoSampleTestResult];
  /** max of the two p-values: the test rejects iff both reject, i.e. iff this is <= alpha. */
  pvalue: number;
  reject: boolean;
  seconds: number;
}

/**
 * Composite null (two acceptable references P1, P2, as in the paper): Y is tested against a sample
 * of each; the composite test rejects only if both tests reject. Each test is seeded with
 * deriveSeed(seed, i) for i = 0, 1.
 */
export function compositeTest(input: CompositeTestInput): CompositeTestResult {
  const t0 = performance.now();
  checkSeed(input.seed);
  if (input.pvalue === 'bootstrap' && !input.references)
    throw new MetError(ErrorTypes.BadInput, 'a composite bootstrap test needs the two references to draw null samples from');
  const tests = [0, 1].map((i) =>
    twoSampleTest({ ...input, x: input.x[i], y: input.y, seed: deriveSeed(input.seed, i), reference: input.references?.[i] }),
  ) as [TwoSampleTestResult, TwoSampleTestResult];
  const { reject, pvalue } = compositeDecision([tests[0].pvalue, tests[1].pvalue], input.alpha);
  return { tests, pvalue, reject, seconds: (performance.now() - t0) / 1000 };
}
export * from './multiple';
export * from './pool';
