import type { EncodedSample } from './types';

/**
 * Kernels between completions of the same prompt (the MMD kernel is zero across prompts).
 *   hamming:   k(x, y) = #{l : x_l = y_l} / L over the padded rows (pad-vs-pad counts as a match).
 *   kspectrum: k(x, y) = sum over contiguous substrings s (lengths 1..k if cumulative, else exactly
 *              k) of c_s(x) c_s(y), over the padded row, then cosine-normalised.
 * Gram blocks are built once per prompt over a pool of rows and reused by every permutation and
 * bootstrap draw (see mmd.ts).
 */
export type KernelSpec = { kind: 'hamming' } | { kind: 'kspectrum'; k: number; cumulative: boolean };

/** A matrix of rows (row-major, width L) and the index of the pad value's tail in each row. */
export interface RowSet {
  L: number;
  tokens: Int32Array;
  /** 1 + the last position that is not padding (positions after it are all padding). */
  lengths: Int32Array;
}

export function rowSet(sample: Pick<EncodedSample, 'L' | 'tokens'>, pad = -1): RowSet {
  const { L, tokens } = sample;
  const n = tokens.length / L;
  const lengths = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let l = L;
    while (l > 0 && tokens[i * L + l - 1] === pad) l--;
    lengths[i] = l;
  }
  return { L, tokens, lengths };
}

/** Matches between rows a and b of a RowSet: beyond both lengths every position is pad = pad. */
export function hammingMatches(set: RowSet, a: number, b: number): number {
  const { L, tokens, lengths } = set;
  const upto = Math.max(lengths[a], lengths[b]);
  let same = L - upto;
  const oa = a * L;
  const ob = b * L;
  for (let l = 0; l < upto; l++) if (tokens[oa + l] === tokens[ob + l]) same++;
  return same;
}

/** Substring counts of one row, keyed exactly (two UTF-16 units per value: no collisions). */
export function spectrum(set: RowSet, row: number, k: number, cumulative: boolean): Map<string, number> {
  const { L, tokens } = set;
  const counts = new Map<string, number>();
  const codes: string[] = new Array(L);
  for (let l = 0; l < L; l++) {
    const v = tokens[row * L + l] >>> 0;
    codes[l] = String.fromCharCode(v >>> 16, v & 0xffff);
  }
  const minLen = cumulative ? 1 : k;
  for (let start = 0; start < L; start++) {
    let key = '';
    for (let len = 1; len <= k && start + len <= L; len++) {
      key += codes[start + len - 1];
      if (len >= minLen) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

export function dot(a: Map<string, number>, b: Map<string, number>): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let s = 0;
  for (const [key, c] of small) {
    const d = large.get(key);
    if (d !== undefined) s += c * d;
  }
  return s;
}

/** Gram block over the given rows of a RowSet (symmetric n x n, row-major). */
export function gramBlock(set: RowSet, rows: Int32Array, kernel: KernelSpec): Float64Array {
  const n = rows.length;
  const g = new Float64Array(n * n);
  if (kernel.kind === 'hamming') {
    for (let i = 0; i < n; i++) {
      g[i * n + i] = 1;
      for (let j = i + 1; j < n; j++) {
        const v = hammingMatches(set, rows[i], rows[j]) / set.L;
        g[i * n + j] = v;
        g[j * n + i] = v;
      }
    }
    return g;
  }
  const k = Math.min(kernel.k, set.L);
  const spectra = Array.from(rows, (r) => spectrum(set, r, k, kernel.cumulative));
  const self = spectra.map((s) => dot(s, s));
  for (let i = 0; i < n; i++) {
    g[i * n + i] = 1;
    for (let j = i + 1; j < n; j++) {
      const v = dot(spectra[i], spectra[j]) / Math.sqrt(self[i] * self[j]);
      g[i * n + j] = v;
      g[j * n + i] = v;
    }
  }
  return g;
}
