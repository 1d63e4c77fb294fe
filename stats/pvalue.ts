import { ErrorTypes, MetError } from '../common/errors';
import { Rng } from './rng';
import { DrawSampler } from './draws';
import { type StatisticOptions, type TwoSampleStatistic, prepare } from './statistics';
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

/**
 * Null statistics of the parametric bootstrap for one statistic: b draws of (X*, Y*) from the pool,
 * sizes n1 and n2. Reusable across alternatives (cache it per reference, n, statistic).
 */
export function bootstrapNulls(name: TwoSampleStatistic, pool: ReferencePool, sizes: { n1: number; n2: number }, options: StatisticOptions & { b: number; seed: number }): Float64Array {
  checkB(options.b);
  const sampler = new DrawSampler(name, pool.sample, undefined, options);
  const rng = new Rng(options.seed);
  return Float64Array.from({ length: options.b }, () => sampler.draw(rng, sizes.n1, sizes.n2, true));
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
