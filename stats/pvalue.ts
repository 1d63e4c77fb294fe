import { ErrorTypes, MetError } from '../common/errors';
import { type KernelSpec, gramBlock, rowSet } from './kernels';
import { Rng } from './rng';
import { type StatisticOptions, type TwoSampleStatistic, kernelOf, prepare } from './statistics';
import { type CountStatistic, countStatistic, rowKey } from './counts';
import type { EncodedSample } from './types';

/**
 * p-values. p = #(null statistics >= observed) / b: ties count, no +1; reject when p <= alpha.
 *
 * Permutation: pool X then Y, shuffle all rows uniformly (not stratified by prompt), the first N1
 * rows are X*. Only labels change, so the prepared statistic (Gram blocks / row ids) is reused.
 *
 * Parametric bootstrap: both null samples are drawn from a stored reference distribution P: prompt
 * counts ~ Multinomial(n, pi) with uniform pi, completions uniformly with replacement from that
 * prompt's stored pool. Draws index into a Gram computed once over the pool.
 */
export function pvalueFrom(observed: number, nulls: Float64Array): number {
  let ge = 0;
  for (const v of nulls) if (v >= observed) ge++;
  return ge / nulls.length;
}

export interface PermutationResult {
  statistic: number;
  pvalue: number;
  nulls: Float64Array;
}

export function permutationTest(name: TwoSampleStatistic, x: EncodedSample, y: EncodedSample, options: StatisticOptions & { b: number; seed: number }): PermutationResult {
  checkB(options.b);
  const prepared = prepare(name, x, y, options);
  const n = prepared.n1 + prepared.n2;
  const isX = new Uint8Array(n).fill(1, 0, prepared.n1);
  const observed = prepared.evaluate(isX, true);
  const rng = new Rng(options.seed);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const nulls = new Float64Array(options.b);
  for (let t = 0; t < options.b; t++) {
    rng.shuffle(order);
    isX.fill(0);
    for (let i = 0; i < prepared.n1; i++) isX[order[i]] = 1;
    nulls[t] = prepared.evaluate(isX);
  }
  return { statistic: observed, pvalue: pvalueFrom(observed, nulls), nulls };
}

/** A stored distribution to draw null samples from: its rows grouped by prompt. */
export interface ReferencePool {
  sample: EncodedSample;
  /** Pool row ids of each prompt 0..m-1. */
  byPrompt: Int32Array[];
}

export function referencePool(sample: EncodedSample): ReferencePool {
  const lists: number[][] = Array.from({ length: sample.m }, () => []);
  for (let i = 0; i < sample.prompts.length; i++) lists[sample.prompts[i]].push(i);
  return { sample, byPrompt: lists.map((l) => Int32Array.from(l)) };
}

/** Draws prompt counts ~ Multinomial(n, uniform over m) and rows with replacement within each prompt. */
export function drawCounts(rng: Rng, n: number, m: number): Int32Array {
  const counts = new Int32Array(m);
  for (let i = 0; i < n; i++) counts[rng.int(m)]++;
  return counts;
}

/**
 * Null statistics of the parametric bootstrap for one statistic: b draws of (X*, Y*) from the pool,
 * sizes n1 and n2. Reusable across alternatives (cache it per reference, n, statistic).
 */
export function bootstrapNulls(name: TwoSampleStatistic, pool: ReferencePool, sizes: { n1: number; n2: number }, options: StatisticOptions & { b: number; seed: number }): Float64Array {
  checkB(options.b);
  const { sample, byPrompt } = pool;
  const m = byPrompt.length;
  const empty = byPrompt.findIndex((rows) => rows.length === 0);
  if (empty >= 0) throw new MetError(ErrorTypes.TooFewSamples, `the reference has no completion for prompt ${empty}: every prompt needs stored completions to draw null samples from`);
  const rng = new Rng(options.seed);
  const nulls = new Float64Array(options.b);
  const kernel: KernelSpec | undefined = kernelOf(name, options, sample.L);
  if (kernel) {
    const set = rowSet(sample);
    const grams = byPrompt.map((rows) => gramBlock(set, rows, kernel));
    for (let t = 0; t < options.b; t++) {
      const a = drawCounts(rng, sizes.n1, m);
      const bc = drawCounts(rng, sizes.n2, m);
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      let dxx = 0;
      let dyy = 0;
      let dxy = 0;
      for (let r = 0; r < m; r++) {
        const size = byPrompt[r].length;
        const g = grams[r];
        const xs = new Int32Array(a[r]);
        const ys = new Int32Array(bc[r]);
        for (let i = 0; i < xs.length; i++) xs[i] = rng.int(size);
        for (let i = 0; i < ys.length; i++) ys[i] = rng.int(size);
        dxx += xs.length * (xs.length - 1);
        dyy += ys.length * (ys.length - 1);
        dxy += xs.length * ys.length;
        for (let i = 0; i < xs.length; i++) {
          const off = xs[i] * size;
          for (let j = i + 1; j < xs.length; j++) sxx += g[off + xs[j]];
          for (let j = 0; j < ys.length; j++) sxy += g[off + ys[j]];
        }
        for (let i = 0; i < ys.length; i++) {
          const off = ys[i] * size;
          for (let j = i + 1; j < ys.length; j++) syy += g[off + ys[j]];
        }
      }
      if (dxx === 0 || dyy === 0 || dxy === 0) {
        throw new MetError(ErrorTypes.TooFewSamples, `a null draw of ${sizes.n1} and ${sizes.n2} rows over ${m} prompts left a denominator at zero: draw more samples per side`);
      }
      nulls[t] = (2 * sxx) / dxx - (2 * sxy) / dxy + (2 * syy) / dyy;
    }
    return nulls;
  }
  // Count statistics: unique rows of the pool get ids once; draws count ids.
  const ids = new Int32Array(sample.prompts.length);
  const keys = new Map<string, number>();
  for (let i = 0; i < ids.length; i++) {
    const k = rowKey(sample, i);
    let id = keys.get(k);
    if (id === undefined) keys.set(k, (id = keys.size));
    ids[i] = id;
  }
  const c1 = new Float64Array(keys.size);
  const c2 = new Float64Array(keys.size);
  for (let t = 0; t < options.b; t++) {
    c1.fill(0);
    c2.fill(0);
    const a = drawCounts(rng, sizes.n1, m);
    const bc = drawCounts(rng, sizes.n2, m);
    for (let r = 0; r < m; r++) {
      const rows = byPrompt[r];
      for (let i = 0; i < a[r]; i++) c1[ids[rows[rng.int(rows.length)]]]++;
      for (let i = 0; i < bc[r]; i++) c2[ids[rows[rng.int(rows.length)]]]++;
    }
    nulls[t] = countStatistic(name as CountStatistic, c1, c2, sizes.n1, sizes.n2);
  }
  return nulls;
}

export interface BootstrapResult {
  statistic: number;
  pvalue: number;
  nulls: Float64Array;
}

/** Observed statistic of (X, Y) against null statistics drawn from the reference pool. */
export function bootstrapTest(name: TwoSampleStatistic, x: EncodedSample, y: EncodedSample, reference: EncodedSample, options: StatisticOptions & { b: number; seed: number }): BootstrapResult {
  if (reference.L !== x.L) throw new MetError(ErrorTypes.BadInput, `the reference is encoded with L = ${reference.L} and the samples with L = ${x.L}: use one L`);
  const prepared = prepare(name, x, y, options);
  const isX = new Uint8Array(prepared.n1 + prepared.n2).fill(1, 0, prepared.n1);
  const observed = prepared.evaluate(isX, true);
  const nulls = bootstrapNulls(name, referencePool(reference), { n1: prepared.n1, n2: prepared.n2 }, options);
  return { statistic: observed, pvalue: pvalueFrom(observed, nulls), nulls };
}

/** Composite null (two acceptable references): reject only if the test rejects against both. */
export function compositeDecision(pvalues: [number, number], alpha: number): { reject: boolean; pvalue: number } {
  const pvalue = Math.max(pvalues[0], pvalues[1]);
  return { reject: pvalue <= alpha, pvalue };
}

function checkB(b: number): void {
  if (!Number.isInteger(b) || b < 1) throw new MetError(ErrorTypes.BadInput, `b (the number of null statistics) must be a positive integer, got ${b}`);
}
