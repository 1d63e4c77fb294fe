/**
 * Straight-from-the-definition implementations, written independently of stats/ (no shared code
 * beyond the EncodedSample shape and the documented RNG), the way the original computes: the full
 * kernel of the two samples for every statistic, substring counts in string-keyed maps, unique rows
 * as string keys. Slow on purpose; the tests compare met's fast paths against them.
 */
import { deriveSeed, Rng } from '../../stats/rng';
import type { EncodedSample } from '../../stats/types';

export type NaiveKernel = { kind: 'hamming' } | { kind: 'kspectrum'; k: number; cumulative: boolean };

function row(s: EncodedSample, i: number): Int32Array {
  return s.tokens.subarray(i * s.L, (i + 1) * s.L);
}

export function naiveHamming(a: Int32Array, b: Int32Array): number {
  let same = 0;
  for (let l = 0; l < a.length; l++) if (a[l] === b[l]) same++;
  return same;
}

export function naiveSpectrum(a: Int32Array, k: number, cumulative: boolean): Map<string, number> {
  const counts = new Map<string, number>();
  for (let p = 0; p < a.length; p++) {
    for (let t = cumulative ? 1 : k; t <= k && p + t <= a.length; t++) {
      const key = Array.from(a.subarray(p, p + t)).join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

function dot(a: Map<string, number>, b: Map<string, number>): number {
  let s = 0;
  for (const [key, c] of a) s += c * (b.get(key) ?? 0);
  return s;
}

/** The MMD as the original's _mmd: full kernel matrices, mask across prompts, normalise, drop the diagonal. */
export function naiveMmd(x: EncodedSample, y: EncodedSample, kernel: NaiveKernel): number {
  const rows = [...Array.from({ length: x.prompts.length }, (_, i) => row(x, i)), ...Array.from({ length: y.prompts.length }, (_, i) => row(y, i))];
  const prompts = [...x.prompts, ...y.prompts];
  const n1 = x.prompts.length;
  const raw = (i: number, j: number) => {
    if (kernel.kind === 'hamming') return naiveHamming(rows[i], rows[j]);
    return dot(spectra[i], spectra[j]);
  };
  const spectra = kernel.kind === 'kspectrum' ? rows.map((r) => naiveSpectrum(r, kernel.k, kernel.cumulative)) : [];
  const diag = rows.map((_, i) => {
    const d = Math.sqrt(raw(i, i));
    return d === 0 ? 1 : d;
  });
  const k = (i: number, j: number) => raw(i, j) / (diag[i] * diag[j]);
  let sxx = 0,
    syy = 0,
    sxy = 0,
    dxx = 0,
    dyy = 0,
    dxy = 0;
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < rows.length; j++) {
      if (prompts[i] !== prompts[j]) continue;
      const iX = i < n1;
      const jX = j < n1;
      if (iX && jX && i !== j) {
        sxx += k(i, j);
        dxx++;
      } else if (!iX && !jX && i !== j) {
        syy += k(i, j);
        dyy++;
      } else if (iX && !jX) {
        sxy += k(i, j);
        dxy++;
      }
    }
  }
  return sxx / dxx - (2 * sxy) / dxy + syy / dyy;
}

function key(s: EncodedSample, i: number): string {
  return `${s.prompts[i]}|${row(s, i).join(',')}`;
}

export function naiveCount(name: 'two_sample_L1' | 'two_sample_L2' | 'two_sample_chi_squared', x: EncodedSample, y: EncodedSample): number {
  const c1 = new Map<string, number>();
  const c2 = new Map<string, number>();
  for (let i = 0; i < x.prompts.length; i++) c1.set(key(x, i), (c1.get(key(x, i)) ?? 0) + 1);
  for (let i = 0; i < y.prompts.length; i++) c2.set(key(y, i), (c2.get(key(y, i)) ?? 0) + 1);
  const N1 = x.prompts.length;
  const N2 = y.prompts.length;
  let s = 0;
  for (const u of new Set([...c1.keys(), ...c2.keys()])) {
    const a = c1.get(u) ?? 0;
    const b = c2.get(u) ?? 0;
    if (name === 'two_sample_L1') s += Math.abs(a / N1 - b / N2);
    else if (name === 'two_sample_L2') s += (a / N1 - b / N2) ** 2;
    else s += ((N2 * a - N1 * b) ** 2 - N2 * N2 * a - N1 * N1 * b) / (a + b);
  }
  return s;
}

/** Rows `ids` of X-then-Y pooled rows copied into a fresh sample. */
export function take(x: EncodedSample, y: EncodedSample, ids: ArrayLike<number>): EncodedSample {
  const L = x.L;
  const n1 = x.prompts.length;
  const tokens = new Int32Array(ids.length * L);
  const prompts = new Int32Array(ids.length);
  for (let k = 0; k < ids.length; k++) {
    const g = ids[k];
    const [s, i] = g < n1 ? [x, g] : [y, g - n1];
    tokens.set(row(s, i), k * L);
    prompts[k] = s.prompts[i];
  }
  return { L, m: x.m, prompts, tokens, pad: x.pad };
}

/**
 * The original's permutation test: permutation t relabels the pooled rows (met's documented stream:
 * Fisher-Yates of the identity under Rng(deriveSeed(seed, t))), copies them into two new samples and
 * recomputes the statistic from scratch.
 */
export function naivePermutationNulls(
  statistic: (x: EncodedSample, y: EncodedSample) => number,
  x: EncodedSample,
  y: EncodedSample,
  b: number,
  seed: number,
): Float64Array {
  const n1 = x.prompts.length;
  const N = n1 + y.prompts.length;
  const nulls = new Float64Array(b);
  for (let t = 0; t < b; t++) {
    const order = Int32Array.from({ length: N }, (_, i) => i);
    new Rng(deriveSeed(seed, t)).shuffle(order);
    const xs = take(x, y, order.subarray(0, n1));
    const ys = take(x, y, order.subarray(n1));
    const v = statistic(xs, ys);
    nulls[t] = v;
  }
  return nulls;
}

/** A sample of n rows drawn from a stored pool by met's documented draw (uniform prompts, rows with replacement). */
export function naiveDraw(rng: Rng, pool: EncodedSample, n: number, prompts: number[]): EncodedSample {
  const counts = new Array(prompts.length).fill(0);
  for (let i = 0; i < n; i++) counts[rng.int(prompts.length)]++;
  const ids: number[] = [];
  prompts.forEach((r, k) => {
    const rowsOfR = [...pool.prompts.keys()].filter((i) => pool.prompts[i] === r);
    for (let c = 0; c < counts[k]; c++) ids.push(rowsOfR[rng.int(rowsOfR.length)]);
  });
  return take(pool, { ...pool, prompts: new Int32Array(0), tokens: new Int32Array(0) }, ids);
}
