/**
 * Binomial confidence intervals for a power estimate (rejections out of simulations).
 *
 * Wilson score is met's default: it never leaves [0, 1], is not degenerate at 0 or n successes
 * (0/100 gives [0, 0.037], not [0, 0]), and its coverage is close to nominal at the 100 simulations
 * per cell the paper uses. Clopper-Pearson ("exact") is offered for readers who want guaranteed
 * coverage; it is wider.
 */

export type IntervalMethod = 'wilson' | 'clopper-pearson';

export interface Interval {
  lo: number;
  hi: number;
}

/** Two-sided standard normal quantile for a confidence level (Acklam's rational approximation refined by one Halley step). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lowTail = 0.02425;
  let x: number;
  if (p < lowTail) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - lowTail) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // One Halley step against erfc brings the approximation to full double precision.
  const e = 0.5 * erfc(-x / Math.SQRT2) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** Complementary error function: Taylor series near 0, Lentz continued fraction elsewhere (~1e-15). */
function erfc(x: number): number {
  const z = Math.abs(x);
  if (z < 0.5) return 1 - erfSeries(x);
  const r = erfcContinuedFraction(z);
  return x >= 0 ? r : 2 - r;
}

function erfSeries(x: number): number {
  // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
  let sum = x;
  let term = x;
  const x2 = x * x;
  for (let n = 1; n < 60; n++) {
    term *= -x2 / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

function erfcContinuedFraction(z: number): number {
  // Lentz's method on erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + 1/2/(z + 1/(z + 3/2/(z + ...))))
  const tiny = 1e-300;
  let f = z;
  let C = z;
  let D = 0;
  for (let n = 1; n < 500; n++) {
    const an = n / 2;
    D = z + an * D;
    D = Math.abs(D) < tiny ? tiny : D;
    C = z + an / C;
    C = Math.abs(C) < tiny ? tiny : C;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

/** Wilson score interval for k successes out of n at the given confidence level. */
export function wilsonInterval(k: number, n: number, level = 0.95): Interval {
  checkCounts(k, n, level);
  const z = normalQuantile(1 - (1 - level) / 2);
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { lo: k === 0 ? 0 : Math.max(0, centre - half), hi: k === n ? 1 : Math.min(1, centre + half) };
}

/** Clopper-Pearson interval: quantiles of Beta(k, n-k+1) and Beta(k+1, n-k). */
export function clopperPearsonInterval(k: number, n: number, level = 0.95): Interval {
  checkCounts(k, n, level);
  const tail = (1 - level) / 2;
  const lo = k === 0 ? 0 : betaQuantile(tail, k, n - k + 1);
  const hi = k === n ? 1 : betaQuantile(1 - tail, k + 1, n - k);
  return { lo, hi };
}

export function binomialInterval(k: number, n: number, method: IntervalMethod = 'wilson', level = 0.95): Interval {
  return method === 'wilson' ? wilsonInterval(k, n, level) : clopperPearsonInterval(k, n, level);
}

function checkCounts(k: number, n: number, level: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`binomial interval needs n >= 1 simulations, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`binomial interval needs 0 <= k <= n, got k = ${k}, n = ${n}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`confidence level must be in (0, 1), got ${level}`);
}

/** Inverse of the regularized incomplete beta function by bisection (monotone, 1e-12 accurate). */
function betaQuantile(p: number, a: number, b: number): number {
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-13; i++) {
    const mid = (lo + hi) / 2;
    if (regularizedBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** I_x(a, b) via the continued fraction (Numerical Recipes betacf), using the symmetry for convergence. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const logFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  d = Math.abs(d) < tiny ? tiny : d;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = 1 + aa / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = 1 + aa / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return h;
}

/** Lanczos approximation (g = 7, n = 9), ~1e-15 relative for x > 0. */
function logGamma(x: number): number {
  const g = 7;
  const coef = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const xx = x - 1;
  let s = coef[0];
  for (let i = 1; i < g + 2; i++) s += coef[i] / (xx + i);
  const t = xx + g + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(s);
}
