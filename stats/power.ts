import { DrawSampler } from './draws';
import { pvalueFrom } from './pvalue';
import { Rng } from './rng';
import type { StatisticOptions, TwoSampleStatistic } from './statistics';
import type { EncodedSample } from './types';

/**
 * Power simulation (see draws.ts for how samples are drawn from stored pools).
 *   nulls:   b statistics of (X*, Y*) both drawn from P (cache per reference, subset, n, statistic)
 *   a cell:  sims statistics of (X ~ P, Y ~ Q), each turned into a p-value against the nulls
 */
/** b null statistics, both samples of size n drawn from the reference. */
export function simulateNulls(name: TwoSampleStatistic, reference: EncodedSample, n: number, options: StatisticOptions & { b: number; seed: number }): Float64Array {
  const sampler = new DrawSampler(name, reference, undefined, options);
  const rng = new Rng(options.seed);
  return Float64Array.from({ length: options.b }, () => sampler.draw(rng, n, n, true));
}

export interface PowerCellResult {
  rejections: number;
  sims: number;
  power: number;
  pvalues: Float64Array;
  statistics: Float64Array;
}

/**
 * One power cell: `sims` tests of X ~ reference against Y ~ alternative (or against the reference
 * itself when alternative is undefined: the type-I error cell), each of size n per side.
 */
export function simulatePowerCell(
  name: TwoSampleStatistic,
  reference: EncodedSample,
  alternative: EncodedSample | undefined,
  nulls: Float64Array,
  options: StatisticOptions & { n: number; sims: number; alpha: number; seed: number },
): PowerCellResult {
  const sampler = new DrawSampler(name, reference, alternative, options);
  const rng = new Rng(options.seed);
  const statistics = new Float64Array(options.sims);
  const pvalues = new Float64Array(options.sims);
  let rejections = 0;
  for (let s = 0; s < options.sims; s++) {
    statistics[s] = sampler.draw(rng, options.n, options.n, alternative === undefined);
    pvalues[s] = pvalueFrom(statistics[s], nulls);
    if (pvalues[s] <= options.alpha) rejections++;
  }
  return { rejections, sims: options.sims, power: rejections / options.sims, pvalues, statistics };
}
