import { ErrorTypes, MetError } from '../common/errors';
import type { BlockPool } from './blocks';
import { bootstrapDraws, checkB, countUndefined, pvalueFrom } from './pvalue';
import { checkSeed, deriveSeed, Rng } from './rng';
import { type PromptChoice, promptChoice, StoredPools } from './sampler';
import type { StatisticOptions, TwoSampleStatistic } from './statistics';
import type { EncodedSample } from './types';

/**
 * Power simulation (the paper's setting: 100 simulations per cell, N = 10 m rows per side, b = 1000
 * null statistics from the parametric bootstrap, alpha = 0.05).
 *
 * Every stored distribution involved (one or two references, any number of alternatives) is joined
 * once: per prompt, one Gram block over all of their rows (or one id per unique row for the count
 * statistics). A simulated sample is then a list of indices into that pool (sampler.ts), so a
 * statistic costs index sums, never a kernel evaluation, and one PowerSimulator serves every cell,
 * sample size and prompt subset of a grid.
 *
 *   nulls:  b statistics of (X*, Y*) both drawn from one reference; depends only on
 *           (reference, prompt subset, n, statistic, b, seed), so cache it and reuse it for every
 *           alternative. Draw t uses Rng(deriveSeed(seed, t)): X* then Y*.
 *   cell:   sims tests of X ~ reference against Y ~ alternative (the reference itself for the
 *           type-I error cell). Simulation s uses Rng(deriveSeed(seed, s)): X then Y; its p-value is
 *           #(nulls >= statistic) / b and it rejects when p <= alpha.
 *   composite cell: X1 ~ P1, X2 ~ P2, Y ~ Q (in that order); reject only if both tests reject,
 *           each against its own reference's nulls.
 * The null statistics of a reference are identical whether computed from a simulator that holds
 * only the reference or one that also holds alternatives (the kernel of two rows does not depend
 * on the other rows), so cached nulls stay valid.
 */
export interface PowerSources {
  /** One reference, or two for a composite null. */
  references: EncodedSample[];
  alternatives?: EncodedSample[];
}

export interface SubsetOptions {
  /** Prompt subset the samples are drawn over (default all prompts). */
  prompts?: ArrayLike<number>;
  /** Prompt probabilities aligned with `prompts` (default uniform). */
  promptWeights?: ArrayLike<number>;
}

export interface NullsRequest extends SubsetOptions {
  /** Index into `references` (default 0). */
  reference?: number;
  /** Rows per side. */
  n: number;
  b: number;
  seed: number;
}

/**
 * Y served per request by a mixture of alternatives (mixture substitution): alternative
 * `alternative` with probability `weight` (weights > 0, summing to 1). Components with weight 0
 * are left out by the caller.
 */
export type Mixture = { alternative: number; weight: number }[];

export interface CellRequest extends SubsetOptions {
  /** Index into `alternatives`; undefined for the type-I error cell (Y from the reference). */
  alternative?: number;
  /** Y from a per-request mixture of alternatives instead of one (overrides `alternative`). */
  mixture?: Mixture;
  /** Index into `references` (default 0). */
  reference?: number;
  /** Rows per side. */
  n: number;
  sims: number;
  alpha: number;
  seed: number;
  nulls: Float64Array;
}

export interface PowerCellResult {
  rejections: number;
  sims: number;
  power: number;
  alpha: number;
  pvalues: Float64Array;
  statistics: Float64Array;
  /** The seed of each simulation: new Rng(seeds[s]) redraws simulation s exactly. */
  seeds: Float64Array;
}

export interface CompositeCellRequest extends SubsetOptions {
  alternative?: number;
  mixture?: Mixture;
  n: number;
  sims: number;
  alpha: number;
  seed: number;
  /** Null statistics of references[0] and references[1] at this n and prompt subset. */
  nulls: [Float64Array, Float64Array];
}

export interface CompositePowerCellResult {
  rejections: number;
  sims: number;
  power: number;
  alpha: number;
  /** Per simulation, against references[0] and references[1]. */
  pvalues: [Float64Array, Float64Array];
  statistics: [Float64Array, Float64Array];
  seeds: Float64Array;
}

export class PowerSimulator {
  readonly pools: StoredPools;
  private readonly references: number;
  private readonly alternatives: number;
  /** Source names for messages ('the reference', 'alternative 2', ...). */
  private readonly names: string[];

  constructor(
    readonly name: TwoSampleStatistic,
    sources: PowerSources,
    options: StatisticOptions & { pool?: BlockPool; gramBudgetBytes?: number } = {},
  ) {
    const refs = sources.references;
    const alts = sources.alternatives ?? [];
    if (refs.length < 1 || refs.length > 2)
      throw new MetError(ErrorTypes.BadInput, `a power simulation takes one reference (or two for a composite null), got ${refs.length}`);
    this.references = refs.length;
    this.alternatives = alts.length;
    const names = [
      ...refs.map((_, i) => (refs.length === 1 ? 'the reference' : `reference ${i + 1}`)),
      ...alts.map((_, i) => (alts.length === 1 ? 'the alternative' : `alternative ${i + 1}`)),
    ];
    this.pools = new StoredPools(name, [...refs, ...alts], { ...options, names });
    this.names = names;
  }

  private source(kind: 'reference' | 'alternative', index: number): number {
    const count = kind === 'reference' ? this.references : this.alternatives;
    if (!Number.isInteger(index) || index < 0 || index >= count) throw new MetError(ErrorTypes.BadInput, `${kind} ${index} does not exist (${count} given)`);
    return kind === 'reference' ? index : this.references + index;
  }

  /** Pool sources and cumulative weights of a mixture (checked), or undefined. */
  private mixtureOf(mixture: Mixture | undefined): { sources: Int32Array; cdf: Float64Array } | undefined {
    if (!mixture) return undefined;
    if (mixture.length === 0) throw new MetError(ErrorTypes.BadInput, 'a mixture needs at least one component');
    let sum = 0;
    for (const c of mixture) {
      if (!(c.weight > 0 && c.weight <= 1))
        throw new MetError(ErrorTypes.BadInput, `mixture weight ${c.weight} must be in (0, 1] (leave weight-0 components out)`);
      sum += c.weight;
    }
    if (Math.abs(sum - 1) > 1e-9) throw new MetError(ErrorTypes.BadInput, `mixture weights sum to ${sum}, not 1`);
    const sources = Int32Array.from(mixture, (c) => this.source('alternative', c.alternative));
    let acc = 0;
    const cdf = Float64Array.from(mixture, (c) => (acc += c.weight));
    cdf[cdf.length - 1] = 1;
    return { sources, cdf };
  }

  private choice(subset: SubsetOptions, sources: number[]): PromptChoice {
    const choice = promptChoice(this.pools.m, subset.prompts, subset.promptWeights);
    for (const s of sources) this.pools.checkCovers(s, choice, this.names[s]);
    return choice;
  }

  /** The source and prompt choice of a nulls request (checked), for running its draws elsewhere. */
  nullsPlan(request: NullsRequest): { source: number; choice: PromptChoice } {
    checkB(request.b);
    checkSeed(request.seed);
    checkN(request.n);
    const source = this.source('reference', request.reference ?? 0);
    return { source, choice: this.choice(request, [source]) };
  }

  /** b null statistics (draws t in [from, to) when given, for splitting across threads). */
  nulls(request: NullsRequest, from = 0, to = request.b): Float64Array {
    const { source, choice } = this.nullsPlan(request);
    return bootstrapDraws(this.pools, source, { n1: request.n, n2: request.n }, choice, request.seed, from, to);
  }

  cell(request: CellRequest): PowerCellResult {
    checkSeed(request.seed);
    checkN(request.n);
    checkSims(request.sims, request.alpha);
    checkNulls(request.nulls);
    const x = this.source('reference', request.reference ?? 0);
    const y = request.alternative === undefined ? x : this.source('alternative', request.alternative);
    const mix = this.mixtureOf(request.mixture);
    const choice = this.choice(request, [x, ...(mix ? mix.sources : [y])]);
    const { pools } = this;
    const dx = pools.newDraw(request.n, choice);
    const dy = pools.newDraw(request.n, choice);
    const statistics = new Float64Array(request.sims);
    const pvalues = new Float64Array(request.sims);
    const seeds = new Float64Array(request.sims);
    let rejections = 0;
    for (let s = 0; s < request.sims; s++) {
      seeds[s] = deriveSeed(request.seed, s);
      const rng = new Rng(seeds[s]);
      pools.draw(rng, x, request.n, choice, dx);
      if (mix) pools.drawMixture(rng, mix.sources, mix.cdf, request.n, choice, dy);
      else pools.draw(rng, y, request.n, choice, dy);
      statistics[s] = definedStatistic(pools.statistic(dx, dy, choice), s, request.n, choice);
      pvalues[s] = pvalueFrom(statistics[s], request.nulls);
      if (pvalues[s] <= request.alpha) rejections++;
    }
    return { rejections, sims: request.sims, power: rejections / request.sims, alpha: request.alpha, pvalues, statistics, seeds };
  }

  compositeCell(request: CompositeCellRequest): CompositePowerCellResult {
    if (this.references !== 2) throw new MetError(ErrorTypes.BadInput, `a composite cell needs two references, this simulator has ${this.references}`);
    checkSeed(request.seed);
    checkN(request.n);
    checkSims(request.sims, request.alpha);
    request.nulls.forEach(checkNulls);
    const y = request.alternative === undefined ? 0 : this.source('alternative', request.alternative);
    const mix = this.mixtureOf(request.mixture);
    const choice = this.choice(request, [0, 1, ...(mix ? mix.sources : [y])]);
    const { pools } = this;
    const d1 = pools.newDraw(request.n, choice);
    const d2 = pools.newDraw(request.n, choice);
    const dy = pools.newDraw(request.n, choice);
    const stats: [Float64Array, Float64Array] = [new Float64Array(request.sims), new Float64Array(request.sims)];
    const pvalues: [Float64Array, Float64Array] = [new Float64Array(request.sims), new Float64Array(request.sims)];
    const seeds = new Float64Array(request.sims);
    let rejections = 0;
    for (let s = 0; s < request.sims; s++) {
      seeds[s] = deriveSeed(request.seed, s);
      const rng = new Rng(seeds[s]);
      pools.draw(rng, 0, request.n, choice, d1);
      pools.draw(rng, 1, request.n, choice, d2);
      if (mix) pools.drawMixture(rng, mix.sources, mix.cdf, request.n, choice, dy);
      else pools.draw(rng, y, request.n, choice, dy);
      stats[0][s] = definedStatistic(pools.statistic(d1, dy, choice), s, request.n, choice);
      stats[1][s] = definedStatistic(pools.statistic(d2, dy, choice), s, request.n, choice);
      pvalues[0][s] = pvalueFrom(stats[0][s], request.nulls[0]);
      pvalues[1][s] = pvalueFrom(stats[1][s], request.nulls[1]);
      if (pvalues[0][s] <= request.alpha && pvalues[1][s] <= request.alpha) rejections++;
    }
    return { rejections, sims: request.sims, power: rejections / request.sims, alpha: request.alpha, pvalues, statistics: stats, seeds };
  }
}

function checkN(n: number): void {
  if (!Number.isInteger(n) || n < 2) throw new MetError(ErrorTypes.BadInput, `n (rows per side) must be an integer >= 2, got ${n}`);
}

function checkSims(sims: number, alpha: number): void {
  if (!Number.isInteger(sims) || sims < 1) throw new MetError(ErrorTypes.BadInput, `sims must be a positive integer, got ${sims}`);
  if (!(alpha > 0 && alpha < 1)) throw new MetError(ErrorTypes.BadInput, `alpha must be in (0, 1), got ${alpha}`);
}

function checkNulls(nulls: Float64Array): void {
  if (nulls.length === 0) throw new MetError(ErrorTypes.BadInput, 'no null statistics: compute them with nulls() first');
  if (countUndefined(nulls) === nulls.length) throw new MetError(ErrorTypes.TooFewSamples, 'every null statistic is undefined: draw more rows per side');
}

function definedStatistic(value: number, sim: number, n: number, choice: PromptChoice): number {
  if (Number.isNaN(value)) {
    throw new MetError(
      ErrorTypes.TooFewSamples,
      `simulation ${sim} drew ${n} rows per side over ${choice.prompts.length} prompts and no prompt got two rows on a side (or the sides shared none): the MMD is undefined, draw more rows per side`,
    );
  }
  return value;
}

/** b null statistics from one reference at n rows per side (cache per reference, subset, n, statistic). */
export function simulateNulls(
  name: TwoSampleStatistic,
  reference: EncodedSample,
  n: number,
  options: StatisticOptions & SubsetOptions & { b: number; seed: number },
): Float64Array {
  return new PowerSimulator(name, { references: [reference] }, options).nulls({ ...options, n });
}

/**
 * One power cell: `sims` tests of X ~ reference against Y ~ alternative (or the reference itself
 * when alternative is undefined: the type-I error cell), n rows per side, p-values from `nulls`.
 */
export function simulatePowerCell(
  name: TwoSampleStatistic,
  reference: EncodedSample,
  alternative: EncodedSample | undefined,
  nulls: Float64Array,
  options: StatisticOptions & SubsetOptions & { n: number; sims: number; alpha: number; seed: number },
): PowerCellResult {
  const simulator = new PowerSimulator(name, { references: [reference], alternatives: alternative ? [alternative] : [] }, options);
  return simulator.cell({ ...options, alternative: alternative ? 0 : undefined, nulls });
}

/** A composite-null cell: reject only if the test rejects against both references. */
export function simulateCompositePowerCell(
  name: TwoSampleStatistic,
  references: [EncodedSample, EncodedSample],
  alternative: EncodedSample | undefined,
  nulls: [Float64Array, Float64Array],
  options: StatisticOptions & SubsetOptions & { n: number; sims: number; alpha: number; seed: number },
): CompositePowerCellResult {
  const simulator = new PowerSimulator(name, { references, alternatives: alternative ? [alternative] : [] }, options);
  return simulator.compositeCell({ ...options, alternative: alternative ? 0 : undefined, nulls });
}
