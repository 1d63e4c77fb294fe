import { ErrorTypes, MetError } from '../common/errors';
import type { EncodedSample } from './types';

/**
 * Character unit: a completion becomes its Unicode code points (not UTF-16 units: "😀a" is two
 * positions; no normalization, no trimming), truncated to L and right-padded with -1.
 */
export function encodeChars(prompts: ArrayLike<number>, completions: readonly string[], L: number, m?: number): EncodedSample {
  checkInputs(prompts, completions.length, L, m);
  const n = completions.length;
  const tokens = new Int32Array(n * L).fill(-1);
  for (let i = 0; i < n; i++) {
    const text = completions[i];
    if (typeof text !== 'string') throw new MetError(ErrorTypes.BadInput, `completion ${i} is not a string (char unit takes text)`);
    let l = 0;
    const base = i * L;
    for (let u = 0; u < text.length && l < L; u++) {
      const cp = text.codePointAt(u)!;
      if (cp > 0xffff) u++; // a surrogate pair is one code point
      tokens[base + l++] = cp;
    }
  }
  return { L, m: m ?? promptCount(prompts), prompts: Int32Array.from(prompts), tokens, pad: -1 };
}

/**
 * Token unit: ids truncated to L; everything after the first EOS becomes the pad id (an EOS at
 * position 0, or no EOS, leaves the row unchanged), then right-padded with the pad id (default -1).
 */
export function encodeTokens(
  prompts: ArrayLike<number>,
  completions: readonly ArrayLike<number>[],
  L: number,
  options: { eos?: number; pad?: number; m?: number } = {},
): EncodedSample {
  checkInputs(prompts, completions.length, L, options.m);
  const pad = options.pad ?? -1;
  if (!isInt32(pad)) throw new MetError(ErrorTypes.BadInput, `the pad id must be a 32-bit integer, got ${pad}`);
  const n = completions.length;
  const tokens = new Int32Array(n * L).fill(pad);
  for (let i = 0; i < n; i++) {
    const row = completions[i];
    const len = Math.min(L, row.length);
    for (let l = 0; l < len; l++) {
      if (!isInt32(row[l])) throw new MetError(ErrorTypes.BadInput, `completion ${i} has token ${row[l]} at position ${l}: token ids must be 32-bit integers`);
    }
    let keep = len;
    if (options.eos !== undefined) {
      for (let l = 1; l < len; l++) {
        if (row[l] === options.eos) {
          keep = l + 1;
          break;
        }
      }
      // An EOS at position 0 leaves the row unchanged, as in the original.
      if (len > 0 && row[0] === options.eos) keep = len;
    }
    for (let l = 0; l < keep; l++) tokens[i * L + l] = row[l];
  }
  return { L, m: options.m ?? promptCount(prompts), prompts: Int32Array.from(prompts), tokens, pad };
}

/** Number of rows of a sample. */
export function rows(sample: EncodedSample): number {
  return sample.prompts.length;
}

/** The pad value of a sample (-1 unless the token encoding chose another). */
export function padOf(sample: EncodedSample): number {
  return sample.pad ?? -1;
}

/** Checks the shape of a sample built elsewhere (a reader, a worker, a test). */
export function checkSample(sample: EncodedSample, name: string): void {
  const { L, m, prompts, tokens } = sample;
  if (!Number.isInteger(L) || L < 1) throw new MetError(ErrorTypes.BadInput, `${name}: L must be a positive integer, got ${L}`);
  if (tokens.length !== prompts.length * L) {
    throw new MetError(ErrorTypes.BadInput, `${name}: ${prompts.length} rows need ${prompts.length * L} token values at L = ${L}, got ${tokens.length}`);
  }
  for (let i = 0; i < prompts.length; i++) {
    const r = prompts[i];
    if (r < 0 || (Number.isInteger(m) && r >= m)) throw new MetError(ErrorTypes.BadInput, `${name}: row ${i} has prompt index ${r}, outside [0, ${m})`);
  }
}

function promptCount(prompts: ArrayLike<number>): number {
  let max = -1;
  for (let i = 0; i < prompts.length; i++) max = Math.max(max, prompts[i]);
  return max + 1;
}

function isInt32(v: number): boolean {
  return Number.isInteger(v) && v >= -2147483648 && v <= 2147483647;
}

function checkInputs(prompts: ArrayLike<number>, n: number, L: number, m: number | undefined): void {
  if (!Number.isInteger(L) || L < 1) throw new MetError(ErrorTypes.BadInput, `L must be a positive integer, got ${L}`);
  if (m !== undefined && (!Number.isInteger(m) || m < 1)) throw new MetError(ErrorTypes.BadInput, `m must be a positive integer, got ${m}`);
  if (prompts.length !== n)
    throw new MetError(ErrorTypes.BadInput, `${prompts.length} prompt indices for ${n} completions: give one prompt index per completion`);
  for (let i = 0; i < prompts.length; i++) {
    const r = prompts[i];
    if (!Number.isInteger(r) || r < 0) throw new MetError(ErrorTypes.BadInput, `prompt index ${r} at row ${i} must be a non-negative integer`);
    if (m !== undefined && r >= m) throw new MetError(ErrorTypes.BadInput, `prompt index ${r} at row ${i} is not below m = ${m}`);
  }
}
