import { ErrorTypes, MetError } from '../common/errors';
import { padOf } from './encode';
import { gatherRows, type GramArray, gramBytesPerEntry, gramSums, isExactKernel, kernelGram, kernelScale, type KernelSpec } from './kernels';
import type { EncodedSample } from './types';

/**
 * The rows of several samples (X and Y; or a reference and an alternative pool) grouped by prompt,
 * with one Gram block per prompt over all of that prompt's rows. Within a block, rows are ordered
 * by source, then by row index, so source s of block b is the local range
 * [sourceStart[s], sourceStart[s + 1]).
 */
export interface GramBlock {
  prompt: number;
  n: number;
  sourceStart: Int32Array;
  gram: GramArray;
  /** Row sums without the diagonal, and the sum over i < j (used by exact permutation re-sums). */
  rowSums: Float64Array;
  total: number;
}

export interface BlockPool {
  L: number;
  pad: number;
  kernel: KernelSpec;
  /** Factor from block sums to kernel sums (1/L for Hamming's raw counts). */
  scale: number;
  /** Integer block values: any summation order gives the same sums. */
  exact: boolean;
  rowCounts: number[];
  blocks: GramBlock[];
  /** Block index of each prompt, -1 when no source has a row for it. */
  blockOfPrompt: Int32Array;
  /** Per source: the block and the local index of each of its rows. */
  blockOf: Int32Array[];
  localOf: Int32Array[];
}

/** Where each block's rows come from, before any kernel is computed. */
export interface BlockPlan {
  prompt: number;
  sourceOf: Int32Array;
  rowOf: Int32Array;
  sourceStart: Int32Array;
}

/** Above this many bytes of Gram blocks held at once, a job is refused with a clear message. */
export const DEFAULT_GRAM_BUDGET_BYTES = 2 * 2 ** 30;

export function checkCompatible(samples: readonly EncodedSample[], names: readonly string[]): void {
  for (let s = 0; s < samples.length; s++) {
    const x = samples[s];
    if (x.tokens.length !== x.prompts.length * x.L) {
      throw new MetError(
        ErrorTypes.BadInput,
        `${names[s]}: ${x.prompts.length} rows need ${x.prompts.length * x.L} token values at L = ${x.L}, got ${x.tokens.length}`,
      );
    }
    if (s === 0) continue;
    if (x.L !== samples[0].L)
      throw new MetError(
        ErrorTypes.BadInput,
        `${names[0]} is encoded with L = ${samples[0].L} and ${names[s]} with L = ${x.L}: encode both samples with the same L`,
      );
    if (padOf(x) !== padOf(samples[0]))
      throw new MetError(
        ErrorTypes.BadInput,
        `${names[0]} pads with ${padOf(samples[0])} and ${names[s]} with ${padOf(x)}: encode both samples with the same pad id`,
      );
  }
}

export function planBlocks(samples: readonly EncodedSample[]): { plans: BlockPlan[]; blockOfPrompt: Int32Array; blockOf: Int32Array[]; localOf: Int32Array[] } {
  let m = 0;
  for (const s of samples) for (let i = 0; i < s.prompts.length; i++) if (s.prompts[i] + 1 > m) m = s.prompts[i] + 1;
  for (const s of samples) if (s.m > m) m = s.m;
  const S = samples.length;
  // counts[r * S + s] = rows of source s for prompt r
  const counts = new Int32Array(m * S);
  samples.forEach((s, si) => {
    for (let i = 0; i < s.prompts.length; i++) counts[s.prompts[i] * S + si]++;
  });
  const blockOfPrompt = new Int32Array(m).fill(-1);
  const plans: BlockPlan[] = [];
  for (let r = 0; r < m; r++) {
    let n = 0;
    const sourceStart = new Int32Array(S + 1);
    for (let s = 0; s < S; s++) {
      sourceStart[s] = n;
      n += counts[r * S + s];
    }
    sourceStart[S] = n;
    if (n === 0) continue;
    blockOfPrompt[r] = plans.length;
    plans.push({ prompt: r, sourceOf: new Int32Array(n), rowOf: new Int32Array(n), sourceStart });
  }
  const fill = new Int32Array(plans.length * S);
  const blockOf = samples.map((s) => new Int32Array(s.prompts.length));
  const localOf = samples.map((s) => new Int32Array(s.prompts.length));
  samples.forEach((sample, si) => {
    for (let i = 0; i < sample.prompts.length; i++) {
      const b = blockOfPrompt[sample.prompts[i]];
      const plan = plans[b];
      const local = plan.sourceStart[si] + fill[b * S + si]++;
      plan.sourceOf[local] = si;
      plan.rowOf[local] = i;
      blockOf[si][i] = b;
      localOf[si][i] = local;
    }
  });
  return { plans, blockOfPrompt, blockOf, localOf };
}

export function gramBudgetCheck(plans: readonly BlockPlan[], kernel: KernelSpec, L: number, budgetBytes: number): number {
  let bytes = 0;
  for (const p of plans) bytes += p.sourceOf.length ** 2 * gramBytesPerEntry(kernel, L);
  if (bytes > budgetBytes) {
    const largest = plans.reduce((a, p) => (p.sourceOf.length > a.sourceOf.length ? p : a), plans[0]);
    throw new MetError(
      ErrorTypes.BadInput,
      `the kernel blocks would take ${size(bytes)} (prompt ${largest.prompt} alone has ${largest.sourceOf.length} rows; the limit is ${size(budgetBytes)}): spread the rows over more prompts, use fewer rows per prompt, or raise gramBudgetBytes`,
    );
  }
  return bytes;
}

function size(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${bytes} bytes`;
}

/** Builds every prompt's Gram block in this thread. */
export function buildBlockPool(samples: readonly EncodedSample[], kernel: KernelSpec, options: { gramBudgetBytes?: number } = {}): BlockPool {
  const { plans, blockOfPrompt, blockOf, localOf } = planBlocks(samples);
  const L = samples[0].L;
  const pad = padOf(samples[0]);
  gramBudgetCheck(plans, kernel, L, options.gramBudgetBytes ?? DEFAULT_GRAM_BUDGET_BYTES);
  const blocks = plans.map((plan) => {
    const n = plan.sourceOf.length;
    const gram = kernelGram(gatherRows(samples, plan.sourceOf, plan.rowOf), n, L, pad, kernel);
    return finishBlock(plan, gram);
  });
  return {
    L,
    pad,
    kernel,
    scale: kernelScale(kernel, L),
    exact: isExactKernel(kernel),
    rowCounts: samples.map((s) => s.prompts.length),
    blocks,
    blockOfPrompt,
    blockOf,
    localOf,
  };
}

export function finishBlock(plan: BlockPlan, gram: GramArray): GramBlock {
  const n = plan.sourceOf.length;
  const { rowSums, total } = gramSums(gram, n);
  return { prompt: plan.prompt, n, sourceStart: plan.sourceStart, gram, rowSums, total };
}
