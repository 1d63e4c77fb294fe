/**
 * The baseline the benchmarks compare against: the original package's algorithm written in plain
 * TypeScript. mmd_hamming computes the full kernel matrices K_XX, K_XY, K_YY over all pairs of rows
 * (numpy's X[:, None, :] == X[None, :, :]), then zeroes pairs of different prompts and the diagonal,
 * normalises by sqrt(diag) and sums; a permutation test copies the relabelled rows into two new
 * samples and recomputes all of it, every time.
 */
import { deriveSeed, Rng } from '../../stats/rng';
import type { EncodedSample } from '../../stats/types';

function kernelMatrix(a: EncodedSample, b: EncodedSample): Float64Array {
  const L = a.L;
  const n = a.prompts.length;
  const m = b.prompts.length;
  const K = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let same = 0;
      for (let l = 0; l < L; l++) if (a.tokens[i * L + l] === b.tokens[j * L + l]) same++;
      K[i * m + j] = same;
    }
  }
  return K;
}

export function originalMmdHamming(x: EncodedSample, y: EncodedSample): number {
  const n = x.prompts.length;
  const m = y.prompts.length;
  const KXX = kernelMatrix(x, x);
  const KXY = kernelMatrix(x, y);
  const KYY = kernelMatrix(y, y);
  const dx = Array.from({ length: n }, (_, i) => Math.sqrt(KXX[i * n + i]) || 1);
  const dy = Array.from({ length: m }, (_, j) => Math.sqrt(KYY[j * m + j]) || 1);
  let sxx = 0,
    sxy = 0,
    syy = 0,
    nxx = 0,
    nxy = 0,
    nyy = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j || x.prompts[i] !== x.prompts[j]) continue;
      sxx += KXX[i * n + j] / (dx[i] * dx[j]);
      nxx++;
    }
    for (let j = 0; j < m; j++) {
      if (x.prompts[i] !== y.prompts[j]) continue;
      sxy += KXY[i * m + j] / (dx[i] * dy[j]);
      nxy++;
    }
  }
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i === j || y.prompts[i] !== y.prompts[j]) continue;
      syy += KYY[i * m + j] / (dy[i] * dy[j]);
      nyy++;
    }
  }
  return sxx / nxx - (2 * sxy) / nxy + syy / nyy;
}

/** Rows `ids` of the pool (X then Y) copied into a new sample. */
export function copyRows(x: EncodedSample, y: EncodedSample, ids: ArrayLike<number>): EncodedSample {
  const L = x.L;
  const n1 = x.prompts.length;
  const prompts = new Int32Array(ids.length);
  const tokens = new Int32Array(ids.length * L);
  for (let k = 0; k < ids.length; k++) {
    const g = ids[k];
    const [s, i] = g < n1 ? [x, g] : [y, g - n1];
    prompts[k] = s.prompts[i];
    tokens.set(s.tokens.subarray(i * L, (i + 1) * L), k * L);
  }
  return { L, m: x.m, prompts, tokens, pad: x.pad };
}

/** Permutations t in [0, count) of the original's test, relabelled by met's documented stream. */
export function originalPermutations(x: EncodedSample, y: EncodedSample, seed: number, count: number): Float64Array {
  const n1 = x.prompts.length;
  const N = n1 + y.prompts.length;
  const out = new Float64Array(count);
  for (let t = 0; t < count; t++) {
    const order = Int32Array.from({ length: N }, (_, i) => i);
    new Rng(deriveSeed(seed, t)).shuffle(order);
    out[t] = originalMmdHamming(copyRows(x, y, order.subarray(0, n1)), copyRows(x, y, order.subarray(n1)));
  }
  return out;
}

/** A sample of n rows drawn from a pool the documented way (uniform prompts, rows with replacement), copied out. */
export function drawCopy(rng: Rng, pool: EncodedSample, byPrompt: Int32Array[], n: number): EncodedSample {
  const m = byPrompt.length;
  const counts = new Int32Array(m);
  for (let i = 0; i < n; i++) counts[rng.int(m)]++;
  const ids: number[] = [];
  for (let r = 0; r < m; r++) for (let c = 0; c < counts[r]; c++) ids.push(byPrompt[r][rng.int(byPrompt[r].length)]);
  return copyRows(pool, { ...pool, prompts: new Int32Array(0), tokens: new Int32Array(0) }, ids);
}

export function rowsByPrompt(s: EncodedSample): Int32Array[] {
  const lists: number[][] = Array.from({ length: s.m }, () => []);
  for (let i = 0; i < s.prompts.length; i++) lists[s.prompts[i]].push(i);
  return lists.map((l) => Int32Array.from(l));
}
