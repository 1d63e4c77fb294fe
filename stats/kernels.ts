import { ErrorTypes, MetError } from '../common/errors';
import { type CountGram, hammingGram } from './hamming';
import { spectrumGram } from './kspectrum';
import type { EncodedSample } from './types';

/**
 * Kernels between completions of the same prompt (the MMD kernel is zero across prompts), computed
 * as one Gram block per prompt over a pool of rows, once, and reused by every permutation and
 * bootstrap draw:
 *   hamming:   raw match counts #{l : x_l = y_l} over the padded rows (pad-vs-pad is a match), an
 *              integer block (Uint16 up to L = 65535) scaled by 1/L at the end: sums stay exact.
 *   kspectrum: cosine-normalised substring-count kernel over the padded rows (kspectrum.ts).
 */
export type KernelSpec = { kind: 'hamming' } | { kind: 'kspectrum'; k: number; cumulative: boolean };

export type GramArray = CountGram | Float64Array;

/** Factor turning sums of block values into sums of kernel values. */
export function kernelScale(kernel: KernelSpec, L: number): number {
  return kernel.kind === 'hamming' ? 1 / L : 1;
}

/** Whether block values are integers (sums exact in float64, so any summation order agrees). */
export function isExactKernel(kernel: KernelSpec): boolean {
  return kernel.kind === 'hamming';
}

export function gramBytesPerEntry(kernel: KernelSpec, L: number): number {
  return kernel.kind === 'hamming' ? (L <= 65535 ? 2 : 4) : 8;
}

export function allocateGram(kernel: KernelSpec, L: number, n: number, buffer?: ArrayBufferLike, byteOffset = 0): GramArray {
  const entries = n * n;
  if (kernel.kind === 'hamming') {
    if (L <= 65535) return buffer ? new Uint16Array(buffer, byteOffset, entries) : new Uint16Array(entries);
    return buffer ? new Uint32Array(buffer, byteOffset, entries) : new Uint32Array(entries);
  }
  return buffer ? new Float64Array(buffer, byteOffset, entries) : new Float64Array(entries);
}

/** Gram block of n x L row-major rows; written into `out` when given (a shared buffer from a worker). */
export function kernelGram(tokens: Int32Array, n: number, L: number, pad: number, kernel: KernelSpec, out?: GramArray): GramArray {
  if (kernel.kind === 'hamming') return hammingGram(tokens, n, L, pad, out as CountGram | undefined);
  const g = spectrumGram(tokens, n, L, kernel.k, kernel.cumulative);
  if (!out) return g;
  (out as Float64Array).set(g);
  return out;
}

/** Row sums without the diagonal and the sum over i < j: what a permutation re-sum starts from. */
export function gramSums(gram: GramArray, n: number): { rowSums: Float64Array; total: number } {
  const rowSums = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    const base = i * n;
    for (let j = 0; j < n; j++) if (j !== i) s += gram[base + j];
    rowSums[i] = s;
    total += s;
  }
  return { rowSums, total: total / 2 };
}

/** Copies the given rows of several samples (in order) into one n x L row-major matrix. */
export function gatherRows(sources: readonly EncodedSample[], sourceOf: Int32Array, rowOf: Int32Array, into?: Int32Array): Int32Array {
  const L = sources[0].L;
  const out = into ?? new Int32Array(sourceOf.length * L);
  for (let i = 0; i < sourceOf.length; i++) {
    const s = sources[sourceOf[i]];
    out.set(s.tokens.subarray(rowOf[i] * L, (rowOf[i] + 1) * L), i * L);
  }
  return out;
}

/** The kernel of a statistic name's options; k must be a positive integer. */
export function spectrumKernel(k: number, cumulative: boolean): KernelSpec {
  if (!Number.isInteger(k) || k < 1) throw new MetError(ErrorTypes.BadInput, `k of the k-spectrum kernel must be a positive integer, got ${k}`);
  return { kind: 'kspectrum', k, cumulative };
}

export function sameKernel(a: KernelSpec, b: KernelSpec): boolean {
  if (a.kind === 'hamming' || b.kind === 'hamming') return a.kind === b.kind;
  return a.k === b.k && a.cumulative === b.cumulative;
}
