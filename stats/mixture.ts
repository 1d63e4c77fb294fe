import { ErrorTypes, MetError } from '../common/errors';
import { checkSample } from './encode';
import { permutationTest } from './pvalue';
import { checkSeed, deriveSeed, Rng } from './rng';
import { rutTest } from './rut';
import { isTwoSampleStatistic, type StatisticOptions, type TwoSampleStatistic } from './statistics';
import type { EncodedSample } from './types';

/**
 * Mixture substitution (Cai et al., "Are You Getting What You Pay For? Auditing Model Substitution
 * in LLM APIs", arXiv 2504.04715: a provider that serves another model for a fraction of requests)
 * and every applicable test's power on the SAME draws at the SAME query budget.
 *
 * A simulation spends `perPrompt` API calls on each of the m prompts (budget = perPrompt x m). Each
 * call is served by mixture component c with probability weight_c, independently per request, and
 * returns a completion drawn uniformly from component c's stored pool for that prompt. The local
 * reference side costs no API calls:
 *   - two-sample tests (MMD-Hamming, counts): X = xPerPrompt (default perPrompt) reference
 *     completions per prompt (drawn with replacement from the reference pool), Y = the API's
 *     completions; permutation p-value with b relabellings (MET's test);
 *   - rut: every API completion's score under the reference is ranked among k reference
 *     completions of its prompt, drawn afresh for each API completion (so the ranks are independent
 *     even with several calls per prompt); Cramér–von Mises (stats/rut.ts).
 * Simulation s uses Rng(deriveSeed(seed, s)): draws first, then each test seeded from the draw's seed.
 */

/** A source's stored completions (encoded, for two-sample tests) and each row's score under the reference (for rut). */
export interface ScoredPool {
  sample: EncodedSample;
  scores: Float64Array;
}

export type MixtureTest = 'rut' | TwoSampleStatistic;

export interface MixturePowerRequest {
  reference: ScoredPool;
  /** What the API serves: component c answers a request with probability weight c (weights sum to 1). */
  mixture: { pool: ScoredPool; weight: number }[];
  /** API calls per prompt; the budget is perPrompt x m. */
  perPrompt: number;
  /** Reference completions per API completion (rut). */
  k: number;
  /**
   * Reference completions per prompt on X's side of the two-sample tests (default perPrompt, MET's
   * equal sizes). Local samples cost no API calls, so a larger X is fair at an equal API budget.
   */
  xPerPrompt?: number;
  tests: MixtureTest[];
  /** Options of the two-sample statistics (k-spectrum k, cumulative). */
  statisticOptions?: StatisticOptions;
  sims: number;
  /** Permutations per two-sample test (required with a two-sample statistic; rut needs none). */
  b?: number;
  alpha: number;
  seed: number;
}

export interface MixtureTestPower {
  rejections: number;
  power: number;
  pvalues: Float64Array;
  statistics: Float64Array;
}

export interface MixturePowerResult {
  /** API calls per simulation. */
  budget: number;
  m: number;
  sims: number;
  /** How many API calls each component served, over all simulations. */
  served: number[];
  /** The seed of each simulation (deriveSeed(seed, s)). */
  seeds: Float64Array;
  tests: Record<string, MixtureTestPower>;
}

/** Row indices of each prompt of a sample. */
function rowsByPrompt(sample: EncodedSample): Int32Array[] {
  const counts = new Int32Array(sample.m);
  for (const p of sample.prompts) counts[p]++;
  const out = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(sample.m);
  for (let i = 0; i < sample.prompts.length; i++) out[sample.prompts[i]][fill[sample.prompts[i]]++] = i;
  return out;
}

/** Rows `rows` of pools[source[i]], as one EncodedSample (all pools share L and pad). */
function gather(pools: EncodedSample[], source: Int32Array, rows: Int32Array, prompts: Int32Array, m: number): EncodedSample {
  const L = pools[0].L;
  const tokens = new Int32Array(rows.length * L);
  for (let i = 0; i < rows.length; i++) tokens.set(pools[source[i]].tokens.subarray(rows[i] * L, (rows[i] + 1) * L), i * L);
  return { L, m, prompts: Int32Array.from(prompts), tokens, pad: pools[0].pad };
}

function checkPool(pool: ScoredPool, name: string, m: number, L: number, pad: number | undefined): Int32Array[] {
  checkSample(pool.sample, name);
  if (pool.scores.length !== pool.sample.prompts.length)
    throw new MetError(ErrorTypes.BadInput, `${name}: ${pool.scores.length} scores for ${pool.sample.prompts.length} rows`);
  if (pool.sample.m !== m || pool.sample.L !== L || pool.sample.pad !== pad)
    throw new MetError(ErrorTypes.BadInput, `${name}: pools must share m, L and pad with the reference`);
  const byPrompt = rowsByPrompt(pool.sample);
  byPrompt.forEach((rows, r) => {
    if (rows.length === 0)
      throw new MetError(ErrorTypes.TooFewSamples, `${name} has no completion for prompt ${r}: every source needs a pool for every prompt`);
  });
  return byPrompt;
}

/** Power of each test against a per-request mixture, on the same draws and the same API budget. */
export function mixturePower(request: MixturePowerRequest): MixturePowerResult {
  checkSeed(request.seed);
  const { reference, mixture, perPrompt, k, sims, alpha } = request;
  if (!(Number.isInteger(perPrompt) && perPrompt >= 1)) throw new MetError(ErrorTypes.BadInput, `perPrompt must be a positive integer, got ${perPrompt}`);
  if (!(Number.isInteger(k) && k >= 1)) throw new MetError(ErrorTypes.BadInput, `k must be a positive integer, got ${k}`);
  if (!(Number.isInteger(sims) && sims >= 1)) throw new MetError(ErrorTypes.BadInput, `sims must be a positive integer, got ${sims}`);
  if (mixture.length === 0) throw new MetError(ErrorTypes.BadInput, 'a mixture needs at least one component');
  const total = mixture.reduce((a, c) => a + c.weight, 0);
  if (mixture.some((c) => !(c.weight >= 0)) || Math.abs(total - 1) > 1e-9)
    throw new MetError(ErrorTypes.BadInput, `mixture weights must be >= 0 and sum to 1, got ${mixture.map((c) => c.weight).join(' + ')}`);
  for (const t of request.tests) if (t !== 'rut' && !isTwoSampleStatistic(t)) throw new MetError(ErrorTypes.BadInput, `unknown test '${t as string}'`);
  const twoSample = request.tests.some((t) => t !== 'rut');
  if (twoSample && !(Number.isInteger(request.b) && request.b! >= 1))
    throw new MetError(ErrorTypes.BadInput, `two-sample tests need b (permutations), got ${request.b}`);
  if (twoSample && perPrompt < 2) throw new MetError(ErrorTypes.BadInput, 'two-sample tests need at least 2 API calls per prompt (same-prompt pairs)');

  const { m, L, pad } = reference.sample;
  const refRows = checkPool(reference, 'the reference', m, L, pad);
  const compRows = mixture.map((c, i) => checkPool(c.pool, `mixture component ${i}`, m, L, pad));
  const cumulative = Float64Array.from(mixture.map((_, i) => mixture.slice(0, i + 1).reduce((a, c) => a + c.weight, 0)));
  const budget = perPrompt * m;
  const prompts = Int32Array.from({ length: budget }, (_, i) => Math.floor(i / perPrompt));
  const xPerPrompt = request.xPerPrompt ?? perPrompt;
  if (!(Number.isInteger(xPerPrompt) && xPerPrompt >= 2)) throw new MetError(ErrorTypes.BadInput, `xPerPrompt must be an integer >= 2, got ${xPerPrompt}`);
  const xPrompts = Int32Array.from({ length: xPerPrompt * m }, (_, i) => Math.floor(i / xPerPrompt));
  const served = new Array<number>(mixture.length).fill(0);
  const out: Record<string, MixtureTestPower> = Object.fromEntries(
    request.tests.map((t) => [t, { rejections: 0, power: 0, pvalues: new Float64Array(sims), statistics: new Float64Array(sims) }]),
  );

  const component = new Int32Array(budget);
  const targetRows = new Int32Array(budget);
  const targetScores = new Float64Array(budget);
  const refScores = new Float64Array(budget * k);
  const offsets = Int32Array.from({ length: budget + 1 }, (_, i) => i * k);
  const refSource = new Int32Array(xPrompts.length);
  const xRows = new Int32Array(xPrompts.length);
  const seeds = new Float64Array(sims);
  for (let s = 0; s < sims; s++) {
    const simSeed = deriveSeed(request.seed, s);
    seeds[s] = simSeed;
    const rng = new Rng(simSeed);
    // The API's answers: one component per request, then a completion from its pool.
    for (let i = 0; i < budget; i++) {
      const u = rng.float();
      let c = 0;
      while (c < mixture.length - 1 && u >= cumulative[c]) c++;
      while (mixture[c].weight === 0) c--; // u at the top edge of a zero-weight tail
      const rows = compRows[c][prompts[i]];
      component[i] = c;
      targetRows[i] = rows[rng.int(rows.length)];
      targetScores[i] = mixture[c].pool.scores[targetRows[i]];
      served[c]++;
    }
    // The local side: k reference completions per API completion (rut), then X (two-sample).
    for (let i = 0; i < budget; i++) {
      const rows = refRows[prompts[i]];
      for (let j = 0; j < k; j++) refScores[i * k + j] = reference.scores[rows[rng.int(rows.length)]];
    }
    for (let i = 0; i < xPrompts.length; i++) {
      const rows = refRows[xPrompts[i]];
      xRows[i] = rows[rng.int(rows.length)];
    }
    let x: EncodedSample | undefined;
    let y: EncodedSample | undefined;
    if (twoSample) {
      x = gather([reference.sample], refSource, xRows, xPrompts, m);
      y = gather(
        mixture.map((c) => c.pool.sample),
        component,
        targetRows,
        prompts,
        m,
      );
    }
    for (const [t, test] of request.tests.entries()) {
      const seed = deriveSeed(simSeed, t + 1);
      const r =
        test === 'rut'
          ? rutTest({ target: targetScores, reference: refScores, offsets, seed })
          : permutationTest(test, x!, y!, { ...request.statisticOptions, b: request.b!, seed });
      const p = r.pvalue;
      out[test].pvalues[s] = p;
      out[test].statistics[s] = r.statistic;
      if (p <= alpha) out[test].rejections++;
    }
  }
  for (const r of Object.values(out)) r.power = r.rejections / sims;
  return { budget, m, sims, served, seeds, tests: out };
}
