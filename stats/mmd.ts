import { ErrorTypes, MetError } from '../common/errors';
import type { BlockPool } from './blocks';
import type { GramArray } from './kernels';

/**
 * The MMD estimator of MET over per-prompt Gram blocks. With a_r, b_r the rows of prompt r in X, Y:
 *   S_XX = sum over i != i' in X with the same prompt of k(x_i, x_i'),  D_XX = sum_r a_r (a_r - 1)
 *   S_YY likewise,                                                   D_YY = sum_r b_r (b_r - 1)
 *   S_XY = sum over i in X, j in Y with the same prompt of k(x_i, y_j), D_XY = sum_r a_r b_r
 *   MMD  = S_XX / D_XX - 2 S_XY / D_XY + S_YY / D_YY
 * (self-pairs excluded within X and within Y only; it can be negative).
 *
 * A permutation only relabels the pooled rows, so it is a re-sum over the blocks. With integer
 * blocks (Hamming) only the smaller side of each block is summed pairwise, the rest follows exactly
 * from the block's row sums R and total T:
 *   S_small = sum_{i<j in small} G_ij,  S_cross = sum_{i in small} R_i - 2 S_small,
 *   S_large = T - S_small - S_cross
 * which is a quarter of the pairs when the sides are balanced. Real-valued blocks (k-spectrum) are
 * summed directly, so no cancellation can creep in.
 */
export interface MmdSums {
  /** Ordered-pair sums in block units (multiply by the pool's scale for kernel units). */
  sxx: number;
  syy: number;
  sxy: number;
  dxx: number;
  dyy: number;
  dxy: number;
}

/** The statistic from its sums: NaN when a denominator is zero (the caller decides what that means). */
export function mmdValue(s: MmdSums, scale: number): number {
  if (s.dxx === 0 || s.dyy === 0 || s.dxy === 0) return NaN;
  return scale * (s.sxx / s.dxx - (2 * s.sxy) / s.dxy + s.syy / s.dyy);
}

/** Relabelled MMD over a pool of two sources (source 0 = X, source 1 = Y), pooled as X then Y. */
export class PermutationMmd {
  readonly n1: number;
  readonly n2: number;
  private readonly blockOf: Int32Array;
  private readonly localOf: Int32Array;
  private readonly offset: Int32Array;
  private readonly xCount: Int32Array;
  private readonly yCount: Int32Array;
  private readonly xs: Int32Array;
  private readonly ys: Int32Array;
  private readonly isX: Uint8Array;

  constructor(private readonly pool: BlockPool) {
    this.n1 = pool.rowCounts[0];
    this.n2 = pool.rowCounts[1];
    const N = this.n1 + this.n2;
    this.blockOf = new Int32Array(N);
    this.localOf = new Int32Array(N);
    this.blockOf.set(pool.blockOf[0], 0);
    this.blockOf.set(pool.blockOf[1], this.n1);
    this.localOf.set(pool.localOf[0], 0);
    this.localOf.set(pool.localOf[1], this.n1);
    const B = pool.blocks.length;
    this.offset = new Int32Array(B + 1);
    for (let b = 0; b < B; b++) this.offset[b + 1] = this.offset[b] + pool.blocks[b].n;
    this.xCount = new Int32Array(B);
    this.yCount = new Int32Array(B);
    this.xs = new Int32Array(N);
    this.ys = new Int32Array(N);
    this.isX = new Uint8Array(N);
  }

  /** Sums for the labelling where pooled rows order[0 .. n1) are X* and the rest Y*. */
  sums(order: Int32Array): MmdSums {
    const { blockOf, localOf, offset, xCount, yCount, xs, ys, n1, isX } = this;
    xCount.fill(0);
    yCount.fill(0);
    const N = order.length;
    isX.fill(0);
    for (let t = 0; t < n1; t++) isX[order[t]] = 1;
    // In pooled order, so each block's lists come out increasing: the pair sums then walk each
    // Gram row forwards instead of jumping around it.
    for (let g = 0; g < N; g++) {
      const b = blockOf[g];
      if (isX[g]) xs[offset[b] + xCount[b]++] = localOf[g];
      else ys[offset[b] + yCount[b]++] = localOf[g];
    }
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    let dxx = 0;
    let dyy = 0;
    let dxy = 0;
    const blocks = this.pool.blocks;
    const exact = this.pool.exact;
    for (let b = 0; b < blocks.length; b++) {
      const a = xCount[b];
      const c = yCount[b];
      dxx += a * (a - 1);
      dyy += c * (c - 1);
      dxy += a * c;
      if (a + c < 2) continue;
      const { gram, n, rowSums, total } = blocks[b];
      const at = offset[b];
      if (exact) {
        const xSmall = a <= c;
        const list = xSmall ? xs : ys;
        const size = xSmall ? a : c;
        const within = pairSum(gram, n, list, at, size);
        let rows = 0;
        for (let p = 0; p < size; p++) rows += rowSums[list[at + p]];
        const cross = rows - 2 * within;
        const other = total - within - cross;
        sxy += cross;
        if (xSmall) {
          sxx += within;
          syy += other;
        } else {
          syy += within;
          sxx += other;
        }
      } else {
        sxx += pairSum(gram, n, xs, at, a);
        syy += pairSum(gram, n, ys, at, c);
        sxy += crossSum(gram, n, xs, at, a, ys, at, c);
      }
    }
    return { sxx: 2 * sxx, syy: 2 * syy, sxy, dxx, dyy, dxy };
  }

  value(order: Int32Array): number {
    return mmdValue(this.sums(order), this.pool.scale);
  }
}

/** sum over p < q of G[list[p]][list[q]] for list = ids[at .. at + size). */
export function pairSum(gram: GramArray, n: number, ids: Int32Array, at: number, size: number): number {
  let s = 0;
  const end = at + size;
  for (let p = at; p < end - 1; p++) {
    const base = ids[p] * n;
    for (let q = p + 1; q < end; q++) s += gram[base + ids[q]];
  }
  return s;
}

/** sum over p, q of G[a[p]][b[q]]. */
export function crossSum(gram: GramArray, n: number, a: Int32Array, aAt: number, aSize: number, b: Int32Array, bAt: number, bSize: number): number {
  let s = 0;
  const bEnd = bAt + bSize;
  for (let p = aAt; p < aAt + aSize; p++) {
    const base = a[p] * n;
    for (let q = bAt; q < bEnd; q++) s += gram[base + b[q]];
  }
  return s;
}

/**
 * Explains a zero denominator of the observed statistic instead of returning NaN (which the
 * original turns into p = 0, a false rejection).
 */
export function checkMmdDenominators(s: MmdSums, xPrompts: Int32Array, yPrompts: Int32Array, names: [string, string] = ['X', 'Y']): void {
  if (xPrompts.length === 0 || yPrompts.length === 0) {
    throw new MetError(ErrorTypes.BadInput, `${xPrompts.length === 0 ? names[0] : names[1]} is empty: both samples need rows`);
  }
  if (s.dxx > 0 && s.dyy > 0 && s.dxy > 0) return;
  if (s.dxy === 0) {
    throw new MetError(
      ErrorTypes.TooFewSamples,
      `${names[0]} and ${names[1]} share no prompt: the MMD compares completions of the same prompt, so both samples need rows for at least one common prompt`,
    );
  }
  const [side, prompts] = s.dxx === 0 ? [names[0], xPrompts] : [names[1], yPrompts];
  throw new MetError(
    ErrorTypes.TooFewSamples,
    `prompt ${prompts[0]} has one sample in ${side} (and no prompt has two): the MMD needs at least two samples per prompt in each sample`,
  );
}
