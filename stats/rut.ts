import { ErrorTypes, MetError } from '../common/errors';
import { checkSeed, Rng } from './rng';

/**
 * The rank-based uniformity test (RUT) of Zhu et al., "Auditing Black-Box LLM APIs with a Rank-Based
 * Uniformity Test" (arXiv 2506.06975), implemented from the paper's description:
 *
 *   for each of n prompts, ONE completion from the API under test (the target) and k completions
 *   from the local reference model; every completion gets a score under the reference model; the
 *   target's percentile rank u_i among its prompt's k reference scores is U(0, 1) when the API
 *   serves the reference; a Cramér–von Mises test of uniformity on u_1..u_n decides.
 *
 * Pure functions over typed arrays and a seeded Rng, like the rest of stats/.
 *
 * Tie rule (randomized, so the null is EXACTLY uniform also for discrete scores, e.g. two identical
 * completions): with L = #{reference scores < s}, E = #{reference scores == s} and V ~ U(0, 1),
 *
 *   u = (L + V (E + 1)) / (k + 1).
 *
 * Under the null the target and the k references are exchangeable, so the target's position among
 * the k + 1 values, with ties broken uniformly at random, is uniform on {0..k}: that is
 * L + floor(V (E + 1)); the fractional part of V (E + 1) is U(0, 1) and independent of it, so u is
 * exactly U(0, 1). V for prompt i is the i-th `float()` of Rng(seed).
 */

export type RutScore = 'sum_logprob' | 'mean_logprob' | 'log_rank';
export const RUT_SCORES: readonly RutScore[] = ['sum_logprob', 'mean_logprob', 'log_rank'];

export interface TokenScores {
  /** Teacher-forced log-probability of each completion token under the reference model. */
  logprobs: ArrayLike<number>;
  /** 1-based rank of each completion token in its position's distribution (needed by log_rank). */
  ranks?: ArrayLike<number> | null;
}

/**
 * One completion's score under the reference model:
 *   sum_logprob   sum of token log-probabilities (the sequence log-likelihood)
 *   mean_logprob  their mean (log-likelihood per token)
 *   log_rank      mean over tokens of ln(rank), rank 1 = the reference's most likely token
 * An empty completion scores 0 under each. Only the ordering of scores within a prompt matters.
 */
export function completionScore(score: RutScore, tokens: TokenScores): number {
  const n = tokens.logprobs.length;
  if (score === 'log_rank') {
    const ranks = tokens.ranks;
    if (!ranks) throw new MetError(ErrorTypes.BadInput, 'the log_rank score needs per-token ranks under the reference model (score with scoreSequence)');
    if (ranks.length !== n) throw new MetError(ErrorTypes.BadInput, `${ranks.length} token ranks for ${n} token logprobs`);
    let s = 0;
    for (let t = 0; t < n; t++) {
      const r = ranks[t];
      if (!(Number.isInteger(r) && r >= 1)) throw new MetError(ErrorTypes.BadInput, `token rank ${r} at position ${t}: ranks are 1-based integers`);
      s += Math.log(r);
    }
    return n === 0 ? 0 : s / n;
  }
  if (score !== 'sum_logprob' && score !== 'mean_logprob')
    throw new MetError(ErrorTypes.BadInput, `unknown RUT score '${score as string}' (${RUT_SCORES.join(', ')})`);
  let s = 0;
  for (let t = 0; t < n; t++) {
    const v = tokens.logprobs[t];
    if (Number.isNaN(v) || v > 0) throw new MetError(ErrorTypes.BadInput, `token logprob ${v} at position ${t}: logprobs are <= 0`);
    s += v;
  }
  return score === 'mean_logprob' && n > 0 ? s / n : s;
}

/** The percentile rank of `s` among `reference` with the randomized tie rule above; v in [0, 1). */
export function percentileRank(s: number, reference: ArrayLike<number>, v: number): number {
  let less = 0;
  let equal = 0;
  for (let j = 0; j < reference.length; j++) {
    const r = reference[j];
    if (r < s) less++;
    else if (r === s) equal++;
  }
  return (less + v * (equal + 1)) / (reference.length + 1);
}

export interface RutInput {
  /** The target (API) completion's score, one per prompt. */
  target: Float64Array;
  /** Reference completions' scores: prompt i's are reference[offsets[i] .. offsets[i + 1]). */
  reference: Float64Array;
  /** n + 1 non-decreasing offsets into `reference`, offsets[0] = 0, offsets[n] = reference.length. */
  offsets: Int32Array;
  seed: number;
}

export interface RutResult {
  /** Cramér–von Mises W² of the percentile ranks against U(0, 1). */
  statistic: number;
  pvalue: number;
  /** Number of prompts (= API calls). */
  n: number;
  /** Reference completions per prompt (the smallest, when prompts differ). */
  k: number;
  /** The percentile ranks, one per prompt. */
  ranks: Float64Array;
}

/** Checks the shape of a RUT input and returns the smallest k. */
function checkRutInput(input: RutInput): number {
  const n = input.target.length;
  if (input.offsets.length !== n + 1) throw new MetError(ErrorTypes.BadInput, `RUT: ${input.offsets.length} offsets for ${n} prompts (need n + 1)`);
  if (input.offsets[0] !== 0 || input.offsets[n] !== input.reference.length)
    throw new MetError(ErrorTypes.BadInput, 'RUT: offsets must start at 0 and end at the number of reference scores');
  let kMin = Infinity;
  for (let i = 0; i < n; i++) {
    const k = input.offsets[i + 1] - input.offsets[i];
    if (k < 1)
      throw new MetError(ErrorTypes.TooFewSamples, `RUT: prompt ${i} has ${k} reference completions: each prompt needs at least one (the paper uses many)`);
    if (Number.isNaN(input.target[i])) throw new MetError(ErrorTypes.BadInput, `RUT: the target score of prompt ${i} is NaN`);
    kMin = Math.min(kMin, k);
  }
  for (let j = 0; j < input.reference.length; j++) {
    if (Number.isNaN(input.reference[j])) throw new MetError(ErrorTypes.BadInput, `RUT: reference score ${j} is NaN`);
  }
  return kMin;
}

/** The percentile rank of each prompt's target score (V_i = the i-th float of Rng(seed)). */
export function percentileRanks(input: RutInput): Float64Array {
  checkSeed(input.seed);
  checkRutInput(input);
  const rng = new Rng(input.seed);
  const n = input.target.length;
  const u = new Float64Array(n);
  for (let i = 0; i < n; i++) u[i] = percentileRank(input.target[i], input.reference.subarray(input.offsets[i], input.offsets[i + 1]), rng.float());
  return u;
}

/** The rank-based uniformity test: percentile ranks, then Cramér–von Mises against U(0, 1). */
export function rutTest(input: RutInput): RutResult {
  const n = input.target.length;
  if (n < 2) throw new MetError(ErrorTypes.TooFewSamples, `RUT needs at least two prompts (one API completion each), got ${n}`);
  const k = checkRutInput(input);
  const ranks = percentileRanks(input);
  const statistic = cramerVonMises(ranks);
  return { statistic, pvalue: cramerVonMisesPvalue(statistic, n), n, k, ranks };
}

/**
 * The Cramér–von Mises statistic of u_1..u_n against U(0, 1):
 * W² = 1/(12n) + sum_i ((2i - 1)/(2n) - u_(i))², u_(i) the sorted values.
 */
export function cramerVonMises(u: ArrayLike<number>): number {
  const n = u.length;
  if (n < 1) throw new MetError(ErrorTypes.BadInput, 'the Cramér–von Mises statistic needs at least one value');
  const sorted = Float64Array.from(u).sort();
  let w = 1 / (12 * n);
  for (let i = 0; i < n; i++) {
    const v = sorted[i];
    if (!(v >= 0 && v <= 1)) throw new MetError(ErrorTypes.BadInput, `value ${v} is outside [0, 1]: a test of uniformity on [0, 1] needs values in it`);
    const d = (2 * i + 1) / (2 * n) - v;
    w += d * d;
  }
  return w;
}

/**
 * P(W² <= w) for n values, Csörgő and Faraway (1996), "The exact and asymptotic distributions of
 * Cramér–von Mises statistics", J. R. Stat. Soc. B 58: the asymptotic distribution V(w) (their
 * (1.2)-(1.3)) with the 1/n correction of their (1.8), F_n(w) = V(w) + psi1(w)/n, psi1 from (1.10).
 * W² lies in [1/(12n), n/3]: 0 at or below, 1 at or above. The series are summed until a term is
 * below 1e-16 of the total (scipy stops at terms below 1e-7, which differs by well under 1e-6).
 * Error of the approximation itself: O(1/n²) (a few 1e-4 at n = 10, far less at the n RUT uses).
 */
export function cramerVonMisesCdf(w: number, n: number): number {
  if (!(n >= 1)) throw new MetError(ErrorTypes.BadInput, `n must be >= 1, got ${n}`);
  if (Number.isNaN(w)) throw new MetError(ErrorTypes.BadInput, 'W² is NaN');
  if (w <= 1 / (12 * n)) return 0;
  if (w >= n / 3) return 1;
  return cvmAsymptoticCdf(w) * (1 + 1 / (12 * n)) + psi1WithoutV(w) / n;
}

/** p = 1 - F_n(W²), clipped to [0, 1] (the approximation can pass 1 by ~1e-6 for large W²). */
export function cramerVonMisesPvalue(w: number, n: number): number {
  return Math.min(1, Math.max(0, 1 - cramerVonMisesCdf(w, n)));
}

const SERIES_TOL = 1e-16;
const SERIES_MAX_TERMS = 10_000;

/**
 * V(x) = sum_k Γ(k + 1/2) / (Γ(k + 1) π^{3/2} √x) · √(4k+1) · e^{-q} K_{1/4}(q), q = (4k+1)²/(16x).
 */
export function cvmAsymptoticCdf(x: number): number {
  if (!(x > 0)) return 0;
  let total = 0;
  let ratio = Math.sqrt(Math.PI); // Γ(k + 1/2) / Γ(k + 1) at k = 0
  for (let k = 0; k < SERIES_MAX_TERMS; k++) {
    const y = 4 * k + 1;
    const q = (y * y) / (16 * x);
    const term = (ratio / (Math.PI ** 1.5 * Math.sqrt(x))) * Math.sqrt(y) * scaledBesselK(0.25, q) * Math.exp(-2 * q);
    total += term;
    if (Math.abs(term) <= SERIES_TOL * Math.abs(total) && k > 2) break;
    ratio *= (k + 0.5) / (k + 1);
  }
  return total;
}

/** psi1 of Csörgő–Faraway (1.10) without its V(x)/12 term (added in cramerVonMisesCdf). */
function psi1WithoutV(x: number): number {
  const ed2 = (y: number) => {
    const z = (y * y) / 4;
    return (Math.exp(-2 * z) * (y / 2) ** 1.5 * (scaledBesselK(0.25, z) + scaledBesselK(0.75, z))) / Math.sqrt(Math.PI);
  };
  const ed3 = (y: number) => {
    const z = (y * y) / 4;
    return (Math.exp(-2 * z) * (y / 2) ** 2.5 * (2 * scaledBesselK(0.25, z) + 3 * scaledBesselK(0.75, z) - scaledBesselK(1.25, z))) / Math.sqrt(Math.PI);
  };
  const sx = 2 * Math.sqrt(x);
  const y1 = x ** 0.75;
  const y2 = x ** 1.25;
  let total = 0;
  let g = Math.sqrt(Math.PI); // Γ(k + 1/2) / Γ(k + 1) at k = 0
  for (let k = 0; k < SERIES_MAX_TERMS; k++) {
    const m = 2 * k + 1;
    const g32 = g * (k + 0.5); // Γ(k + 3/2) / Γ(k + 1)
    const a =
      (m * g * ed2((4 * k + 3) / sx)) / (9 * y1) +
      (g * ed3((4 * k + 1) / sx)) / (72 * y2) +
      (2 * (m + 2) * g32 * ed3((4 * k + 5) / sx)) / (12 * y2) +
      (7 * m * g * ed2((4 * k + 1) / sx)) / (144 * y1) +
      (7 * m * g * ed2((4 * k + 5) / sx)) / (144 * y1);
    const term = -a / Math.PI;
    total += term;
    if (Math.abs(term) <= SERIES_TOL * Math.max(Math.abs(total), 1e-300) && k > 2) break;
    g *= (k + 0.5) / (k + 1);
  }
  return total;
}

/**
 * e^z K_ν(z), the exponentially scaled modified Bessel function of the second kind, for z > 0 and
 * real ν, from K_ν(z) = ∫_0^∞ exp(-z cosh t) cosh(νt) dt: e^z K_ν(z) = ∫_0^∞ exp(-z (cosh t - 1))
 * cosh(νt) dt by the trapezoidal rule with step 1/32. The integrand is analytic and decays doubly
 * exponentially, so the rule's error falls like exp(-π²/h) (far below double precision); the sum
 * stops once terms are below 1e-18 of it.
 */
export function scaledBesselK(nu: number, z: number): number {
  if (!(z > 0)) throw new MetError(ErrorTypes.BadInput, `scaledBesselK needs z > 0, got ${z}`);
  const h = 1 / 32;
  let sum = 0.5; // t = 0: exp(0) cosh(0) = 1, half weight
  for (let i = 1; i < 1_000_000; i++) {
    const t = i * h;
    const f = Math.exp(-z * (Math.cosh(t) - 1)) * Math.cosh(nu * t);
    sum += f;
    if (f < 1e-18 * sum && z * (Math.cosh(t) - 1) > nu * t) break;
  }
  return sum * h;
}
