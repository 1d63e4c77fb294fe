/**
 * Multiple testing: when one endpoint is tested against k candidate models, each at alpha, some
 * candidate is rejected by chance far more often than alpha. Holm's step-down procedure keeps the
 * family-wise error at alpha (no assumption on how the tests depend on each other) and is uniformly
 * more powerful than Bonferroni.
 */

/** Holm-adjusted p-values, in the input order: reject hypothesis i at level alpha when adjusted[i] <= alpha. */
export function holmAdjust(pvalues: readonly number[]): number[] {
  const k = pvalues.length;
  const order = pvalues.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const adjusted = new Array<number>(k);
  let running = 0;
  order.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, (k - rank) * p));
    adjusted[i] = running;
  });
  return adjusted;
}
