import { ErrorTypes, MetError } from '../common/errors';
import { type KernelSpec, gramBlock, rowSet } from './kernels';
import type { EncodedSample } from './types';

/**
 * The MMD estimator of MET, over per-prompt Gram blocks of the pooled rows (X then Y):
 *   S_XX = sum over i != i' in X with the same prompt of k(x_i, x_i'),  D_XX = sum_r a_r (a_r - 1)
 *   S_YY likewise,                                                   D_YY = sum_r b_r (b_r - 1)
 *   S_XY = sum over i in X, j in Y with the same prompt of k(x_i, y_j), D_XY = sum_r a_r b_r
 *   MMD  = S_XX / D_XX - 2 S_XY / D_XY + S_YY / D_YY
 * A permutation only relabels pooled rows, so each prompt's block is computed once and every
 * permutation is a re-sum over it.
 */
export interface PromptBlock {
  prompt: number;
  /** Pooled row ids of this prompt. */
  rows: Int32Array;
  /** Gram of those rows, n x n row-major. */
  gram: Float64Array;
}

export interface PooledSample {
  n1: number;
  n2: number;
  blocks: PromptBlock[];
}

function checkSameL(x: EncodedSample, y: EncodedSample): void {
  if (x.L !== y.L) throw new MetError(ErrorTypes.BadInput, `X is encoded with L = ${x.L} and Y with L = ${y.L}: encode both samples with the same L`);
  if (x.prompts.length === 0 || y.prompts.length === 0) throw new MetError(ErrorTypes.BadInput, `${x.prompts.length === 0 ? 'X' : 'Y'} is empty: both samples need rows`);
}

/** Concatenates X then Y into one matrix and builds each prompt's Gram block once. */
export function pool(x: EncodedSample, y: EncodedSample, kernel: KernelSpec): PooledSample {
  checkSameL(x, y);
  const L = x.L;
  const n1 = x.prompts.length;
  const n2 = y.prompts.length;
  const tokens = new Int32Array((n1 + n2) * L);
  tokens.set(x.tokens, 0);
  tokens.set(y.tokens, n1 * L);
  const prompts = new Int32Array(n1 + n2);
  prompts.set(x.prompts, 0);
  prompts.set(y.prompts, n1);
  const set = rowSet({ L, tokens });
  const byPrompt = new Map<number, number[]>();
  for (let i = 0; i < prompts.length; i++) {
    const list = byPrompt.get(prompts[i]);
    if (list) list.push(i);
    else byPrompt.set(prompts[i], [i]);
  }
  const blocks = [...byPrompt.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([prompt, ids]) => {
      const rows = Int32Array.from(ids);
      return { prompt, rows, gram: gramBlock(set, rows, kernel) };
    });
  return { n1, n2, blocks };
}

export interface MmdParts {
  sxx: number;
  syy: number;
  sxy: number;
  dxx: number;
  dyy: number;
  dxy: number;
}

/** Sums of one labelling: isX[pooledRow] = 1 for rows of X. */
export function mmdParts(pooled: PooledSample, isX: Uint8Array): MmdParts {
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  let dxx = 0;
  let dyy = 0;
  let dxy = 0;
  for (const { rows, gram } of pooled.blocks) {
    const n = rows.length;
    let a = 0;
    for (let i = 0; i < n; i++) a += isX[rows[i]];
    const b = n - a;
    dxx += a * (a - 1);
    dyy += b * (b - 1);
    dxy += a * b;
    for (let i = 0; i < n; i++) {
      const xi = isX[rows[i]];
      const off = i * n;
      for (let j = i + 1; j < n; j++) {
        const v = gram[off + j];
        const xj = isX[rows[j]];
        if (xi & xj) sxx += v;
        else if (xi | xj) sxy += v;
        else syy += v;
      }
    }
  }
  return { sxx: 2 * sxx, syy: 2 * syy, sxy, dxx, dyy, dxy };
}

export function mmdFromParts(p: MmdParts): number {
  return p.sxx / p.dxx - (2 * p.sxy) / p.dxy + p.syy / p.dyy;
}

/** Explains a zero denominator instead of returning NaN (which the original turns into p = 0). */
export function checkDenominators(p: MmdParts, pooled: PooledSample, isX: Uint8Array): void {
  if (p.dxx > 0 && p.dyy > 0 && p.dxy > 0) return;
  const counts = pooled.blocks.map((blk) => {
    let a = 0;
    for (const r of blk.rows) a += isX[r];
    return { prompt: blk.prompt, a, b: blk.rows.length - a };
  });
  if (p.dxy === 0) {
    throw new MetError(ErrorTypes.TooFewSamples, 'X and Y share no prompt: the MMD compares completions of the same prompt, so both samples need rows for at least one common prompt');
  }
  const side = p.dxx === 0 ? 'X' : 'Y';
  const single = counts.find((c) => (side === 'X' ? c.a : c.b) === 1);
  throw new MetError(
    ErrorTypes.TooFewSamples,
    `${single ? `prompt ${single.prompt} has one sample in ${side}` : `${side} has no prompt with two samples`}: the MMD needs at least two samples per prompt in each sample (no prompt of ${side} has two)`,
  );
}

export function labelsOf(pooled: PooledSample): Uint8Array {
  const isX = new Uint8Array(pooled.n1 + pooled.n2);
  isX.fill(1, 0, pooled.n1);
  return isX;
}

/** The MMD of X against Y with a kernel (mmd_hamming, mmd_kspectrum, mmd_all_subsequences). */
export function mmd(x: EncodedSample, y: EncodedSample, kernel: KernelSpec): number {
  const pooled = pool(x, y, kernel);
  const isX = labelsOf(pooled);
  const parts = mmdParts(pooled, isX);
  checkDenominators(parts, pooled, isX);
  return mmdFromParts(parts);
}
