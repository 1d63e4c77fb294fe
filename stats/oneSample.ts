import { ErrorTypes, MetError } from '../common/errors';
import { rowKey } from './counts';
import type { EncodedSample } from './types';

/**
 * One-sample (goodness-of-fit) statistics against a null with log-probabilities. The null's support
 * S is a list of joint rows u with log p_u = log pi(r) + log P(completion | r), kept in log space
 * (exp of a float32 sum underflows). o_u are observed counts, n the sample size.
 *   g_squared             = 2 sum_obs o ln(o / (n p))
 *   chi_squared           = sum_obs (o - n p)^2 / (n p) + sum_unobs n p
 *   truncated_chi_squared = sum_obs ((o - n p)^2 - o) / max(p, 1/|S|) + sum_unobs (n p)^2 / max(p, 1/|S|)
 *   L1 = sum_obs |o - n p| + sum_unobs n p;   L2 = sum_obs (o - n p)^2 + sum_unobs (n p)^2
 */
export const ONE_SAMPLE_STATISTICS = ['g_squared', 'chi_squared', 'truncated_chi_squared', 'L1', 'L2'] as const;
export type OneSampleStatistic = (typeof ONE_SAMPLE_STATISTICS)[number];

export interface NullDistribution {
  /** The support rows (same L as the sample). */
  support: EncodedSample;
  /** log p_u of each support row (natural log). */
  logProbs: Float64Array;
}

/** Observed counts over the null's support; a sample row outside the support is an error. */
export function observedCounts(sample: EncodedSample, nullDist: NullDistribution): Float64Array {
  if (sample.L !== nullDist.support.L) throw new MetError(ErrorTypes.BadInput, `the sample is encoded with L = ${sample.L} and the reference with L = ${nullDist.support.L}: use one L`);
  const index = new Map<string, number>();
  for (let u = 0; u < nullDist.support.prompts.length; u++) index.set(rowKey(nullDist.support, u), u);
  const o = new Float64Array(nullDist.support.prompts.length);
  for (let i = 0; i < sample.prompts.length; i++) {
    const u = index.get(rowKey(sample, i));
    if (u === undefined) {
      throw new MetError(ErrorTypes.BadInput, `row ${i} (prompt ${sample.prompts[i]}) is not in the reference's support: score it under the reference (met score) so its log-probability is known`);
    }
    o[u]++;
  }
  return o;
}

export function oneSampleStatistic(name: OneSampleStatistic, observed: Float64Array, logProbs: Float64Array): number {
  let n = 0;
  for (const v of observed) n += v;
  if (n === 0) throw new MetError(ErrorTypes.BadInput, 'the sample is empty');
  const size = logProbs.length;
  let s = 0;
  for (let u = 0; u < size; u++) {
    const o = observed[u];
    const p = Math.exp(logProbs[u]);
    const np = n * p;
    const floor = Math.max(p, 1 / size);
    if (name === 'g_squared') {
      if (o > 0) s += 2 * o * (Math.log(o) - Math.log(n) - logProbs[u]);
    } else if (name === 'chi_squared') s += o > 0 ? (o - np) ** 2 / np : np;
    else if (name === 'truncated_chi_squared') s += o > 0 ? ((o - np) ** 2 - o) / floor : np ** 2 / floor;
    else if (name === 'L1') s += o > 0 ? Math.abs(o - np) : np;
    else s += o > 0 ? (o - np) ** 2 : np ** 2;
  }
  return s;
}
