import { Rng } from './rng';

/**
 * Log Probability Tracking (Chauvin et al., ICLR 2026, arXiv 2512.03816): an endpoint is asked for
 * one token at temperature 0 with its top-k logprobs on a fixed set of probes at every firing, and
 * a firing is tested against the endpoint's own first firings (its baseline). Pure and exact in
 * float64: workflows may import it, activities run it.
 *
 * The statistic, per probe j: the firings' top-k lists are aligned by token over the union of
 * their tokens; a token missing from a list takes that list's smallest listed logprob (the top-k
 * cut: the true value is at most that). d_j(r) is the mean absolute difference, over the aligned
 * tokens, between firing r's vector and the mean of the other firings' vectors. The observed
 * statistic is the mean over probes of d_j(new firing).
 *
 * The null: the endpoint serves the same model at every firing, so its firings are exchangeable.
 * Permutation over firing labels per probe: which of the m + 1 firings plays "new" is drawn
 * uniformly and independently for each probe (the probes are independent inputs; permuting whole
 * firings would leave only m + 1 labellings, so p could never go below 1/(m + 1)). With identical
 * answers (a bitwise-deterministic endpoint serving the same weights) every labelling gives the
 * same statistic and p = 1; with run-to-run noise the baseline's own spread is the yardstick.
 * The L1-type distance (not L2) keeps a few large shifts from swamping many small ones and reads in
 * nats per token. When (m + 1)^probes labellings are at most b, all are enumerated (an exact p).
 */

/** One probe's answer: its top-k tokens as [token text, logprob], most likely first. */
export type TopLogprobs = [string, number][];

export interface TrackingTestResult {
  /** Mean over probes of the distance of the new firing from the others (nats per aligned token). */
  value: number;
  pvalue: number;
  /** Labellings drawn (or enumerated, `exact`). */
  b: number;
  exact: boolean;
  probes: number;
  baselineFirings: number;
}

/** d(r) for each firing r of one probe: mean |v_r - mean of the others| over the union of tokens. */
export function probeDistances(firings: TopLogprobs[]): number[] {
  const tokens = [...new Set(firings.flatMap((f) => f.map(([t]) => t)))];
  const vectors = firings.map((f) => {
    if (f.length === 0) throw new Error('a probe answer without top logprobs');
    const floor = Math.min(...f.map(([, lp]) => lp));
    const byToken = new Map(f);
    return tokens.map((t) => byToken.get(t) ?? floor);
  });
  const m = vectors.length;
  const sums = tokens.map((_, k) => vectors.reduce((s, v) => s + v[k], 0));
  return vectors.map((v) => {
    let d = 0;
    for (let k = 0; k < tokens.length; k++) d += Math.abs(v[k] - (sums[k] - v[k]) / (m - 1));
    return d / tokens.length;
  });
}

/**
 * The permutation test of a new firing (`current[j]`: probe j's answer) against `baseline[i][j]`
 * (firing i's answer to probe j), probes aligned by index. b labellings drawn with `seed`.
 */
export function trackingTest(baseline: TopLogprobs[][], current: TopLogprobs[], opts: { b: number; seed: number }): TrackingTestResult {
  const m = baseline.length;
  if (m < 1) throw new Error('a tracking test needs at least one baseline firing');
  const n = current.length;
  if (n < 1) throw new Error('a tracking test needs at least one probe');
  if (baseline.some((f) => f.length !== n)) throw new Error('every baseline firing must answer the same probes as the new one');
  // The new firing is index m of each probe's list.
  const d = current.map((c, j) => probeDistances([...baseline.map((f) => f[j]), c]));
  const observed = d.reduce((s, dj) => s + dj[m], 0) / n;
  // Ties up to rounding count as at least as extreme (identical answers: every labelling ties, p = 1).
  const atLeast = (t: number) => t >= observed - 1e-12 * Math.max(1, Math.abs(observed));
  const labellings = (m + 1) ** n;
  if (labellings <= opts.b) {
    // Exact: every labelling once (the observed one included), as a mixed-radix counter.
    const label = new Array<number>(n).fill(0);
    let hits = 0;
    for (let t = 0; t < labellings; t++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += d[j][label[j]];
      if (atLeast(s / n)) hits++;
      for (let j = 0; j < n && ++label[j] > m; j++) label[j] = 0;
    }
    return { value: observed, pvalue: hits / labellings, b: labellings, exact: true, probes: n, baselineFirings: m };
  }
  const rng = new Rng(opts.seed);
  let hits = 0;
  for (let t = 0; t < opts.b; t++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += d[j][rng.int(m + 1)];
    if (atLeast(s / n)) hits++;
  }
  return { value: observed, pvalue: (1 + hits) / (1 + opts.b), b: opts.b, exact: false, probes: n, baselineFirings: m };
}

/** A seeded choice of `count` of `n` items' indices, in their original order (all of them when count >= n). */
export function seededProbeIndices(n: number, count: number, seed: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  const order = new Rng(seed).shuffle(Int32Array.from({ length: n }, (_, i) => i));
  return Array.from(order.subarray(0, count)).sort((a, b) => a - b);
}
