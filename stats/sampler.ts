import { ErrorTypes, MetError } from '../common/errors';
import { type BlockPool, buildBlockPool, checkCompatible } from './blocks';
import { type CountStatistic, countStatistic, uniqueRowIds } from './counts';
import { sameKernel } from './kernels';
import { crossSum, mmdValue, pairSum } from './mmd';
import type { Rng } from './rng';
import { kernelOf, type StatisticOptions, type TwoSampleStatistic } from './statistics';
import type { EncodedSample } from './types';

/**
 * Samples drawn from stored distributions, the way the original's DistributionFromDataset.sample
 * draws them: a sample of size n from source s over the allowed prompts is
 *   1. prompt counts ~ Multinomial(n, pi): n categorical draws, rng.int(m') for uniform pi, or the
 *      inverse CDF at rng.float() for given prompt weights;
 *   2. for each allowed prompt in increasing order, count rows uniformly with replacement from that
 *      prompt's stored rows of source s, rng.int(size) each.
 * A draw is a list of indices into the pool, never a copy of rows: the MMD sums Gram entries of the
 * pooled block of each prompt (computed once over every source's rows), the count statistics count
 * precomputed row ids.
 */
export interface PromptChoice {
  /** Allowed prompts, increasing. */
  prompts: Int32Array;
  /** Cumulative prompt probabilities (same length), when pi is not uniform. */
  cdf?: Float64Array;
}

/** Where a draw's rows are: per allowed prompt k, values[start[k] .. start[k + 1]). */
export interface Draw {
  start: Int32Array;
  values: Int32Array;
}

export function promptChoice(m: number, prompts?: ArrayLike<number>, weights?: ArrayLike<number>): PromptChoice {
  const list = prompts ? Int32Array.from(prompts) : Int32Array.from({ length: m }, (_, i) => i);
  if (list.length === 0) throw new MetError(ErrorTypes.BadInput, 'the prompt subset is empty');
  const sorted = list.slice().sort();
  for (let k = 0; k < sorted.length; k++) {
    if (!Number.isInteger(sorted[k]) || sorted[k] < 0 || sorted[k] >= m)
      throw new MetError(ErrorTypes.BadInput, `prompt ${sorted[k]} of the subset is outside [0, ${m})`);
    if (k > 0 && sorted[k] === sorted[k - 1]) throw new MetError(ErrorTypes.BadInput, `prompt ${sorted[k]} appears twice in the prompt subset`);
  }
  if (!weights) return { prompts: sorted };
  if (weights.length !== list.length) throw new MetError(ErrorTypes.BadInput, `${weights.length} prompt weights for ${list.length} prompts`);
  const byPrompt = new Map<number, number>();
  let sum = 0;
  for (let k = 0; k < list.length; k++) {
    const w = weights[k];
    if (!(w >= 0) || !Number.isFinite(w)) throw new MetError(ErrorTypes.BadInput, `prompt weight ${w} must be a finite non-negative number`);
    byPrompt.set(list[k], w);
    sum += w;
  }
  if (!(sum > 0)) throw new MetError(ErrorTypes.BadInput, 'prompt weights sum to zero');
  const cdf = new Float64Array(sorted.length);
  let acc = 0;
  for (let k = 0; k < sorted.length; k++) {
    acc += byPrompt.get(sorted[k])! / sum;
    cdf[k] = acc;
  }
  cdf[sorted.length - 1] = 1;
  return { prompts: sorted, cdf };
}

/** The per-prompt counts of a multinomial draw of n over the choice's prompts. */
export function drawPromptCounts(rng: Rng, n: number, choice: PromptChoice, counts: Int32Array): void {
  counts.fill(0);
  const m = choice.prompts.length;
  const cdf = choice.cdf;
  if (!cdf) {
    for (let i = 0; i < n; i++) counts[rng.int(m)]++;
    return;
  }
  for (let i = 0; i < n; i++) {
    const u = rng.float();
    let lo = 0;
    let hi = m - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]++;
  }
}

/**
 * Stored pools of several sources (a reference, alternatives) ready for draws: the MMD's Gram
 * blocks over every source's rows of a prompt, or the count statistics' row ids.
 */
export class StoredPools {
  readonly m: number;
  readonly sources: number;
  /** rows[s][r]: the values a draw of source s, prompt r picks from (block-local ids or row ids). */
  private readonly rows: Int32Array[][];
  private readonly pool?: BlockPool;
  private readonly unique: number;
  private c1?: Int32Array;
  private c2?: Int32Array;

  constructor(
    readonly name: TwoSampleStatistic,
    samples: readonly EncodedSample[],
    options: StatisticOptions & { pool?: BlockPool; gramBudgetBytes?: number; names?: readonly string[] } = {},
  ) {
    if (samples.length === 0 && !options.pool) throw new MetError(ErrorTypes.BadInput, 'no stored samples to draw from');
    let m = options.pool ? options.pool.blockOfPrompt.length : 0;
    if (samples.length > 0) {
      checkCompatible(samples, options.names ?? samples.map((_, s) => `pool ${s}`));
      for (const s of samples) m = Math.max(m, s.m, maxPrompt(s) + 1);
    }
    this.sources = samples.length || options.pool!.rowCounts.length;
    this.m = m;
    const kernel = kernelOf(name, options, samples.length ? samples[0].L : options.pool!.L);
    if (kernel) {
      if (options.pool && !sameKernel(options.pool.kernel, kernel))
        throw new MetError(ErrorTypes.BadInput, `the given Gram blocks were built for another kernel than ${name}'s`);
      const pool = options.pool ?? buildBlockPool(samples, kernel, options);
      this.pool = pool;
      this.unique = 0;
      this.rows = Array.from({ length: this.sources }, (_, s) =>
        Array.from({ length: m }, (_, r) => {
          const b = r < pool.blockOfPrompt.length ? pool.blockOfPrompt[r] : -1;
          if (b < 0) return new Int32Array(0);
          const { sourceStart } = pool.blocks[b];
          return Int32Array.from({ length: sourceStart[s + 1] - sourceStart[s] }, (_, p) => sourceStart[s] + p);
        }),
      );
    } else {
      if (samples.length === 0) throw new MetError(ErrorTypes.BadInput, `${name} draws need the stored samples, not Gram blocks`);
      const { ids, unique } = uniqueRowIds(samples);
      this.unique = unique;
      this.rows = samples.map((sample, s) => {
        const lists: number[][] = Array.from({ length: m }, () => []);
        for (let i = 0; i < sample.prompts.length; i++) lists[sample.prompts[i]].push(ids[s][i]);
        return lists.map((l) => Int32Array.from(l));
      });
    }
  }

  /** The Gram blocks behind MMD draws (undefined for the count statistics). */
  get blockPool(): BlockPool | undefined {
    return this.pool;
  }

  /** Every allowed prompt needs stored rows in each source a draw takes from. */
  checkCovers(source: number, choice: PromptChoice, sourceName: string): void {
    for (const r of choice.prompts) {
      if (r >= this.m || this.rows[source][r].length === 0) {
        throw new MetError(
          ErrorTypes.TooFewSamples,
          `${sourceName} has no completion for prompt ${r}: every prompt needs stored completions to draw samples from`,
        );
      }
    }
  }

  newDraw(n: number, choice: PromptChoice): Draw {
    return { start: new Int32Array(choice.prompts.length + 1), values: new Int32Array(n) };
  }

  /** Draws n rows of source `source` into `into` (see the class comment for the order of draws). */
  draw(rng: Rng, source: number, n: number, choice: PromptChoice, into: Draw): Draw {
    const K = choice.prompts.length;
    const { start, values } = into;
    drawPromptCounts(rng, n, choice, start.subarray(1));
    start[0] = 0;
    for (let k = 0; k < K; k++) start[k + 1] += start[k];
    for (let k = 0; k < K; k++) {
      const from = this.rows[source][choice.prompts[k]];
      for (let t = start[k]; t < start[k + 1]; t++) values[t] = from[rng.int(from.length)];
      // Large draws sum Gram entries faster in row order (a draw is a multiset: order is free).
      if (this.pool && start[k + 1] - start[k] >= 64) values.subarray(start[k], start[k + 1]).sort();
    }
    return into;
  }

  /**
   * A per-request mixture: n rows whose prompt counts are drawn as in draw(), then, for each row in
   * prompt order, its source by one rng.float() against `cdf` (cumulative weights of `sources`) and
   * its row by rng.int(size) from that source's rows of the prompt. Rows of every source of a prompt
   * share one Gram block, so the statistic of a mixed draw is the same index sum.
   */
  drawMixture(rng: Rng, sources: Int32Array, cdf: Float64Array, n: number, choice: PromptChoice, into: Draw): Draw {
    const K = choice.prompts.length;
    const { start, values } = into;
    drawPromptCounts(rng, n, choice, start.subarray(1));
    start[0] = 0;
    for (let k = 0; k < K; k++) start[k + 1] += start[k];
    for (let k = 0; k < K; k++) {
      for (let t = start[k]; t < start[k + 1]; t++) {
        const u = rng.float();
        let c = 0;
        while (c < sources.length - 1 && u >= cdf[c]) c++;
        const from = this.rows[sources[c]][choice.prompts[k]];
        values[t] = from[rng.int(from.length)];
      }
      if (this.pool && start[k + 1] - start[k] >= 64) values.subarray(start[k], start[k + 1]).sort();
    }
    return into;
  }

  /** The statistic of two draws (X, Y) over the same prompt choice; NaN when a denominator is zero. */
  statistic(x: Draw, y: Draw, choice: PromptChoice): number {
    const pool = this.pool;
    if (pool) {
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      let dxx = 0;
      let dyy = 0;
      let dxy = 0;
      for (let k = 0; k < choice.prompts.length; k++) {
        const a = x.start[k + 1] - x.start[k];
        const c = y.start[k + 1] - y.start[k];
        dxx += a * (a - 1);
        dyy += c * (c - 1);
        dxy += a * c;
        if (a + c < 2) continue;
        const { gram, n } = pool.blocks[pool.blockOfPrompt[choice.prompts[k]]];
        sxx += pairSum(gram, n, x.values, x.start[k], a);
        syy += pairSum(gram, n, y.values, y.start[k], c);
        sxy += crossSum(gram, n, x.values, x.start[k], a, y.values, y.start[k], c);
      }
      return mmdValue({ sxx: 2 * sxx, syy: 2 * syy, sxy, dxx, dyy, dxy }, pool.scale);
    }
    if (!this.c1) {
      this.c1 = new Int32Array(this.unique);
      this.c2 = new Int32Array(this.unique);
    }
    const c1 = this.c1;
    const c2 = this.c2!;
    c1.fill(0);
    c2.fill(0);
    const n1 = x.start[choice.prompts.length];
    const n2 = y.start[choice.prompts.length];
    for (let t = 0; t < n1; t++) c1[x.values[t]]++;
    for (let t = 0; t < n2; t++) c2[y.values[t]]++;
    return countStatistic(this.name as CountStatistic, c1, c2, n1, n2);
  }
}

function maxPrompt(s: EncodedSample): number {
  let max = -1;
  for (let i = 0; i < s.prompts.length; i++) if (s.prompts[i] > max) max = s.prompts[i];
  return max;
}
