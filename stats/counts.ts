import { ErrorTypes, MetError } from '../common/errors';
import type { EncodedSample } from './types';

/**
 * Count statistics on unique joint rows u = (prompt, whole padded completion), with c1_u, c2_u the
 * counts in X and Y and N1, N2 their sizes:
 *   two_sample_L1          = sum_u |c1/N1 - c2/N2|
 *   two_sample_L2          = sum_u (c1/N1 - c2/N2)^2
 *   two_sample_chi_squared = sum_u [(N2 c1 - N1 c2)^2 - N2^2 c1 - N1^2 c2] / (c1 + c2)
 * Rows are mapped to integer ids once; a permutation only recounts ids.
 */
export type CountStatistic = 'two_sample_L1' | 'two_sample_L2' | 'two_sample_chi_squared';

export function rowKey(sample: EncodedSample, i: number): string {
  const { L, tokens, prompts } = sample;
  const parts: string[] = [String(prompts[i])];
  const row = tokens.subarray(i * L, (i + 1) * L);
  parts.push(Array.prototype.join.call(row, ','));
  return parts.join('|');
}

/** Integer ids of unique joint rows over X then Y. */
export function uniqueRowIds(x: EncodedSample, y: EncodedSample): { ids: Int32Array; unique: number } {
  if (x.L !== y.L) throw new MetError(ErrorTypes.BadInput, `X is encoded with L = ${x.L} and Y with L = ${y.L}: encode both samples with the same L`);
  const map = new Map<string, number>();
  const n1 = x.prompts.length;
  const ids = new Int32Array(n1 + y.prompts.length);
  const add = (s: EncodedSample, i: number, at: number) => {
    const key = rowKey(s, i);
    let id = map.get(key);
    if (id === undefined) {
      id = map.size;
      map.set(key, id);
    }
    ids[at] = id;
  };
  for (let i = 0; i < n1; i++) add(x, i, i);
  for (let i = 0; i < y.prompts.length; i++) add(y, i, n1 + i);
  return { ids, unique: map.size };
}

export function countStatistic(name: CountStatistic, c1: Float64Array, c2: Float64Array, n1: number, n2: number): number {
  let s = 0;
  for (let u = 0; u < c1.length; u++) {
    const a = c1[u];
    const b = c2[u];
    if (a === 0 && b === 0) continue;
    if (name === 'two_sample_L1') s += Math.abs(a / n1 - b / n2);
    else if (name === 'two_sample_L2') s += (a / n1 - b / n2) ** 2;
    else s += ((n2 * a - n1 * b) ** 2 - n2 * n2 * a - n1 * n1 * b) / (a + b);
  }
  return s;
}

/** Counts per unique row under a labelling (isX[row] = 1 for X). */
export function countsOf(ids: Int32Array, unique: number, isX: Uint8Array): { c1: Float64Array; c2: Float64Array; n1: number; n2: number } {
  const c1 = new Float64Array(unique);
  const c2 = new Float64Array(unique);
  let n1 = 0;
  for (let i = 0; i < ids.length; i++) {
    if (isX[i]) {
      c1[ids[i]]++;
      n1++;
    } else c2[ids[i]]++;
  }
  return { c1, c2, n1, n2: ids.length - n1 };
}

export function twoSampleCount(name: CountStatistic, x: EncodedSample, y: EncodedSample): number {
  if (x.prompts.length === 0 || y.prompts.length === 0) throw new MetError(ErrorTypes.BadInput, `${x.prompts.length === 0 ? 'X' : 'Y'} is empty: both samples need rows`);
  const { ids, unique } = uniqueRowIds(x, y);
  const isX = new Uint8Array(ids.length).fill(1, 0, x.prompts.length);
  const { c1, c2, n1, n2 } = countsOf(ids, unique, isX);
  return countStatistic(name, c1, c2, n1, n2);
}
