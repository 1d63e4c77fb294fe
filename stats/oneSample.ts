import { ErrorTypes, MetError } from '../common/errors';
import { RowIndex } from './counts';
import { checkB, countUndefined, pvalueFrom, result, type TestResult } from './pvalue';
import { checkSeed, deriveSeed, Rng } from './rng';
import { drawPromptCounts, promptChoice } from './sampler';
import type { EncodedSample } from './types';

/**
 * One-sample (goodness-of-fit) statistics against a null with log-probabilities. The null's support
 * S is a list of unique joint rows u with log p_u = log pi(r) + log P(completion | r), kept in log
 * space (the original's float32 exp of a summed logprob underflows to 0 for long completions). o_u
 * are observed counts, n the sample size, n p_u = exp(log n + log p_u):
 *   g_squared             = 2 sum_obs o ln(o / (n p))
 *   chi_squared           = sum_obs (o - n p)^2 / (n p) + sum_unobs n p
 *   truncated_chi_squared = sum_obs ((o - n p)^2 - o) / max(p, 1/|S|) + sum_unobs (n p)^2 / max(p, 1/|S|)
 *   L1 = sum_obs |o - n p| + sum_unobs n p;   L2 = sum_obs (o - n p)^2 + sum_unobs (n p)^2
 * Where n p underflows, chi_squared's observed term is o^2 / (n p) - 2 o + n p with o^2 / (n p) taken
 * as exp(2 ln o - ln n - log p): large and finite where the original gives inf.
 */
export const ONE_SAMPLE_STATISTICS = ['g_squared', 'chi_squared', 'truncated_chi_squared', 'L1', 'L2'] as const;
export type OneSampleStatistic = (typeof ONE_SAMPLE_STATISTICS)[number];

export interface NullDistribution {
  /** The unique support rows (same L as the samples tested against it). */
  support: EncodedSample;
  /** log p_u of each support row (natural log, joint: prompt probability included). */
  logProbs: Float64Array;
}

export function isOneSampleStatistic(name: string): name is OneSampleStatistic {
  return (ONE_SAMPLE_STATISTICS as readonly string[]).includes(name);
}

/**
 * A null distribution from scored completions: rows (prompt + completion, encoded like the samples)
 * with their conditional log-probabilities log P(completion | prompt), and prompt probabilities pi
 * (default uniform over m). Duplicate rows (e.g. completions equal after truncation to L) are kept
 * once; they must carry the same log-probability.
 */
export function nullDistribution(rows: EncodedSample, conditionalLogProbs: ArrayLike<number>, promptWeights?: ArrayLike<number>): NullDistribution {
  const n = rows.prompts.length;
  if (conditionalLogProbs.length !== n) throw new MetError(ErrorTypes.BadInput, `${conditionalLogProbs.length} log-probabilities for ${n} reference rows`);
  const m = rows.m;
  if (promptWeights && promptWeights.length !== m) throw new MetError(ErrorTypes.BadInput, `${promptWeights.length} prompt weights for m = ${m} prompts`);
  let weightSum = 0;
  if (promptWeights) for (let r = 0; r < m; r++) weightSum += promptWeights[r];
  const logPi = (r: number) => (promptWeights ? Math.log(promptWeights[r] / weightSum) : -Math.log(m));
  const index = new RowIndex(rows.L, n);
  const keep: number[] = [];
  const logProbs: number[] = [];
  for (let i = 0; i < n; i++) {
    const lp = conditionalLogProbs[i];
    if (Number.isNaN(lp) || lp > 1e-6)
      throw new MetError(ErrorTypes.BadInput, `reference row ${i} has log-probability ${lp}: log-probabilities are <= 0 (natural log)`);
    const before = index.size;
    const id = index.id(rows, i);
    const joint = Math.min(lp, 0) + logPi(rows.prompts[i]);
    if (id === before) {
      keep.push(i);
      logProbs.push(joint);
    } else if (Math.abs(logProbs[id] - joint) > 1e-6 * Math.max(1, Math.abs(joint))) {
      throw new MetError(
        ErrorTypes.BadInput,
        `reference rows ${keep[id]} and ${i} are the same completion of prompt ${rows.prompts[i]} (after truncation to L = ${rows.L}) with different log-probabilities ${logProbs[id]} and ${joint}`,
      );
    }
  }
  const L = rows.L;
  const tokens = new Int32Array(keep.length * L);
  keep.forEach((row, k) => tokens.set(rows.tokens.subarray(row * L, (row + 1) * L), k * L));
  return { support: { L, m, prompts: Int32Array.from(keep, (row) => rows.prompts[row]), tokens, pad: rows.pad }, logProbs: Float64Array.from(logProbs) };
}

function supportIndex(nullDist: NullDistribution): RowIndex {
  const { support } = nullDist;
  if (nullDist.logProbs.length !== support.prompts.length)
    throw new MetError(ErrorTypes.BadInput, `${nullDist.logProbs.length} log-probabilities for ${support.prompts.length} support rows`);
  const index = new RowIndex(support.L, support.prompts.length);
  for (let u = 0; u < support.prompts.length; u++) {
    if (index.id(support, u) !== u) throw new MetError(ErrorTypes.BadInput, `support row ${u} repeats an earlier row: build the null with nullDistribution()`);
  }
  return index;
}

/** Support ids of a sample's rows; rows outside the support are an error naming them. */
function supportIds(sample: EncodedSample, nullDist: NullDistribution, index: RowIndex, what: string): Int32Array {
  if (sample.L !== nullDist.support.L)
    throw new MetError(ErrorTypes.BadInput, `${what} is encoded with L = ${sample.L} and the reference with L = ${nullDist.support.L}: use one L`);
  const ids = new Int32Array(sample.prompts.length);
  let missing = 0;
  let first = -1;
  for (let i = 0; i < ids.length; i++) {
    ids[i] = index.id(sample, i, false);
    if (ids[i] < 0) {
      missing++;
      if (first < 0) first = i;
    }
  }
  if (missing > 0) {
    throw new MetError(
      ErrorTypes.BadInput,
      `${missing} row${missing === 1 ? '' : 's'} of ${what} (first: row ${first}, prompt ${sample.prompts[first]}) ${missing === 1 ? 'is' : 'are'} missing from the reference's log-probabilities: score ${missing === 1 ? 'it' : 'them'} under the reference (met score) first`,
    );
  }
  return ids;
}

/** Observed counts over the null's support. */
export function observedCounts(sample: EncodedSample, nullDist: NullDistribution): Float64Array {
  if (sample.prompts.length === 0) throw new MetError(ErrorTypes.BadInput, 'the sample is empty');
  const ids = supportIds(sample, nullDist, supportIndex(nullDist), 'the sample');
  const o = new Float64Array(nullDist.logProbs.length);
  for (const u of ids) o[u]++;
  return o;
}

type OneSampleFunction = (observed: Float64Array, logProbs: Float64Array, n: number) => number;

function observedTermChi(o: number, logNp: number): number {
  const np = Math.exp(logNp);
  if (np > 1e-250) return ((o - np) * (o - np)) / np;
  return Math.exp(2 * Math.log(o) - logNp) - 2 * o + np;
}

/** name -> function over (observed counts, log p, n). */
export const oneSampleStatistics: Record<OneSampleStatistic, OneSampleFunction> = {
  g_squared: (o, lp, n) => {
    let s = 0;
    const logN = Math.log(n);
    for (let u = 0; u < o.length; u++) if (o[u] > 0) s += 2 * o[u] * (Math.log(o[u]) - logN - lp[u]);
    return s;
  },
  chi_squared: (o, lp, n) => {
    let s = 0;
    const logN = Math.log(n);
    for (let u = 0; u < o.length; u++) s += o[u] > 0 ? observedTermChi(o[u], logN + lp[u]) : Math.exp(logN + lp[u]);
    return s;
  },
  truncated_chi_squared: (o, lp, n) => {
    let s = 0;
    const floor = 1 / o.length;
    for (let u = 0; u < o.length; u++) {
      const p = Math.exp(lp[u]);
      const np = n * p;
      const denominator = Math.max(p, floor);
      s += o[u] > 0 ? ((o[u] - np) ** 2 - o[u]) / denominator : (np * np) / denominator;
    }
    return s;
  },
  L1: (o, lp, n) => {
    let s = 0;
    for (let u = 0; u < o.length; u++) s += Math.abs(o[u] - n * Math.exp(lp[u]));
    return s;
  },
  L2: (o, lp, n) => {
    let s = 0;
    for (let u = 0; u < o.length; u++) s += (o[u] - n * Math.exp(lp[u])) ** 2;
    return s;
  },
};

export function oneSampleStatistic(name: OneSampleStatistic, observed: Float64Array, logProbs: Float64Array): number {
  if (!isOneSampleStatistic(name))
    throw new MetError(ErrorTypes.BadInput, `unknown one-sample statistic '${String(name)}' (known: ${ONE_SAMPLE_STATISTICS.join(', ')})`);
  if (observed.length !== logProbs.length) throw new MetError(ErrorTypes.BadInput, `${observed.length} counts for ${logProbs.length} support rows`);
  let n = 0;
  for (let u = 0; u < observed.length; u++) n += observed[u];
  if (n === 0) throw new MetError(ErrorTypes.BadInput, 'the sample is empty');
  return oneSampleStatistics[name](observed, logProbs, n);
}

export interface OneSampleTestOptions {
  b: number;
  seed: number;
  prompts?: ArrayLike<number>;
  promptWeights?: ArrayLike<number>;
}

/** oneSampleTest's arguments as one message (a test in a thread of its own: stats/parallel.ts). */
export interface OneSampleTestInput {
  name: OneSampleStatistic;
  sample: EncodedSample;
  nullDist: NullDistribution;
  pool: EncodedSample;
  options: OneSampleTestOptions;
}

/**
 * Goodness-of-fit test with a parametric-bootstrap p-value, as the original: null sample t of the
 * sample's size is drawn from the stored samples `pool` of the null (multinomial prompt counts,
 * rows with replacement, under Rng(deriveSeed(seed, t)); every pool row must be in the support) and
 * scored against the same log-probabilities.
 */
export function oneSampleTest(
  name: OneSampleStatistic,
  sample: EncodedSample,
  nullDist: NullDistribution,
  pool: EncodedSample,
  options: OneSampleTestOptions,
): TestResult {
  checkB(options.b);
  checkSeed(options.seed);
  const observed = oneSampleStatistic(name, observedCounts(sample, nullDist), nullDist.logProbs);
  const index = supportIndex(nullDist);
  const poolIds = supportIds(pool, nullDist, index, 'the null pool');
  const m = Math.max(pool.m, nullDist.support.m);
  const byPrompt: number[][] = Array.from({ length: m }, () => []);
  for (let i = 0; i < poolIds.length; i++) byPrompt[pool.prompts[i]].push(poolIds[i]);
  const choice = promptChoice(m, options.prompts, options.promptWeights);
  for (const r of choice.prompts) {
    if (byPrompt[r].length === 0)
      throw new MetError(
        ErrorTypes.TooFewSamples,
        `the null pool has no completion for prompt ${r}: every prompt needs stored completions to draw samples from`,
      );
  }
  const rowsOf = byPrompt.map((l) => Int32Array.from(l));
  const n = sample.prompts.length;
  const counts = new Int32Array(choice.prompts.length);
  const o = new Float64Array(nullDist.logProbs.length);
  const nulls = new Float64Array(options.b);
  for (let t = 0; t < options.b; t++) {
    const rng = new Rng(deriveSeed(options.seed, t));
    drawPromptCounts(rng, n, choice, counts);
    o.fill(0);
    for (let k = 0; k < counts.length; k++) {
      const from = rowsOf[choice.prompts[k]];
      for (let c = 0; c < counts[k]; c++) o[from[rng.int(from.length)]]++;
    }
    nulls[t] = oneSampleStatistics[name](o, nullDist.logProbs, n);
  }
  return result(observed, nulls);
}

/**
 * A power-grid cell of a one-sample statistic: `sims` simulated endpoints, each n rows (multinomial
 * prompt counts, rows with replacement) from the alternative's pools (one per mixture component,
 * picked per row by weight; none: from `reference`, the type-I error cell), each tested against
 * the same b null statistics, bootstrap draws of n rows from `reference` (oneSampleTest's null,
 * computed once per cell as the two-sample grids compute theirs once per key). p-values and
 * undefined nulls as every met test: pvalueFrom, and a cell whose nulls are all undefined fails.
 */
export interface OneSampleCellRequest {
  name: OneSampleStatistic;
  nullDist: NullDistribution;
  /** The null's stored draws (the bootstrap pool). */
  reference: EncodedSample;
  /** Y's pools; empty: Y from `reference`. */
  alternatives: { pool: EncodedSample; weight: number }[];
  n: number;
  sims: number;
  b: number;
  alpha: number;
  seed: number;
  nullSeed: number;
}

export interface OneSampleCellResult {
  rejections: number;
  sims: number;
  power: number;
  pvalues: Float64Array;
  statistics: Float64Array;
  seeds: Float64Array;
  /** The b null statistics every simulation's p-value reads (oneSampleTest's own at this seed and size). */
  nulls: Float64Array;
  undefinedNulls: number;
}

export function oneSamplePowerCell(request: OneSampleCellRequest): OneSampleCellResult {
  checkB(request.b);
  checkSeed(request.seed);
  checkSeed(request.nullSeed);
  if (!Number.isInteger(request.n) || request.n < 1)
    throw new MetError(ErrorTypes.BadInput, `n (rows per simulated sample) must be a positive integer, got ${request.n}`);
  const { nullDist } = request;
  const index = supportIndex(nullDist);
  const m = nullDist.support.m;
  const choice = promptChoice(m);
  // Per pool, its support ids by prompt; every prompt needs rows to draw from.
  const byPrompt = (pool: EncodedSample, what: string): Int32Array[] => {
    const ids = supportIds(pool, nullDist, index, what);
    const lists: number[][] = Array.from({ length: m }, () => []);
    for (let i = 0; i < ids.length; i++) lists[pool.prompts[i]].push(ids[i]);
    const empty = lists.findIndex((l) => l.length === 0);
    if (empty >= 0)
      throw new MetError(ErrorTypes.TooFewSamples, `${what} has no completion for prompt ${empty}: every prompt needs stored completions to draw samples from`);
    return lists.map((l) => Int32Array.from(l));
  };
  const reference = byPrompt(request.reference, 'the null pool');
  const pools = request.alternatives.length ? request.alternatives.map((a, i) => byPrompt(a.pool, `alternative pool ${i}`)) : [reference];
  const weights = request.alternatives.length ? request.alternatives.map((a) => a.weight) : [1];
  const total = weights.reduce((a, w) => a + w, 0);
  let acc = 0;
  const cdf = weights.map((w) => (acc += w / total));
  const counts = new Int32Array(choice.prompts.length);
  const o = new Float64Array(nullDist.logProbs.length);
  const draw = (rng: Rng, from: Int32Array[][], pick: boolean) => {
    drawPromptCounts(rng, request.n, choice, counts);
    o.fill(0);
    for (let k = 0; k < counts.length; k++) {
      for (let c = 0; c < counts[k]; c++) {
        let p = 0;
        if (pick) {
          const u = rng.float();
          while (p < cdf.length - 1 && u >= cdf[p]) p++;
        }
        const rows = from[p][choice.prompts[k]];
        o[rows[rng.int(rows.length)]]++;
      }
    }
    return oneSampleStatistics[request.name](o, nullDist.logProbs, request.n);
  };
  const nulls = new Float64Array(request.b);
  for (let t = 0; t < request.b; t++) nulls[t] = draw(new Rng(deriveSeed(request.nullSeed, t)), [reference], false);
  const undefinedNulls = countUndefined(nulls);
  if (undefinedNulls === nulls.length) throw new MetError(ErrorTypes.TooFewSamples, 'every null statistic is undefined: draw more rows');
  const statistics = new Float64Array(request.sims);
  const pvalues = new Float64Array(request.sims);
  const seeds = new Float64Array(request.sims);
  let rejections = 0;
  for (let s = 0; s < request.sims; s++) {
    seeds[s] = deriveSeed(request.seed, s);
    statistics[s] = draw(new Rng(seeds[s]), pools, pools.length > 1);
    pvalues[s] = pvalueFrom(statistics[s], nulls);
    if (pvalues[s] <= request.alpha) rejections++;
  }
  return { rejections, sims: request.sims, power: rejections / request.sims, pvalues, statistics, seeds, nulls, undefinedNulls };
}
