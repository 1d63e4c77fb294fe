import { ErrorTypes, MetError } from '../common/errors';
import type { EncodedSample } from './types';

/** Character unit: Unicode code points (not UTF-16 units), truncated to L, right-padded with -1. */
export function encodeChars(prompts: ArrayLike<number>, completions: readonly string[], L: number, m?: number): EncodedSample {
  checkInputs(prompts, completions.length, L);
  const n = completions.length;
  const tokens = new Int32Array(n * L).fill(-1);
  for (let i = 0; i < n; i++) {
    let l = 0;
    const base = i * L;
    for (const ch of completions[i]) {
      if (l >= L) break;
      tokens[base + l++] = ch.codePointAt(0)!;
    }
  }
  return { L, m: m ?? promptCount(prompts), prompts: Int32Array.from(prompts), tokens };
}

/**
 * Token unit: ids truncated to L; everything after the first EOS becomes the pad id (an EOS at
 * position 0, or no EOS, leaves the row unchanged), then right-padded with the pad id.
 */
export function encodeTokens(prompts: ArrayLike<number>, completions: readonly ArrayLike<number>[], L: number, options: { eos?: number; pad?: number; m?: number } = {}): EncodedSample {
  checkInputs(prompts, completions.length, L);
  const pad = options.pad ?? -1;
  const n = completions.length;
  const tokens = new Int32Array(n * L).fill(pad);
  for (let i = 0; i < n; i++) {
    const row = completions[i];
    const len = Math.min(L, row.length);
    let eosAt = -1;
    if (options.eos !== undefined) {
      for (let l = 0; l < len; l++) {
        if (row[l] === options.eos) {
          eosAt = l;
          break;
        }
      }
    }
    const keep = eosAt > 0 ? eosAt + 1 : len;
    for (let l = 0; l < keep; l++) tokens[i * L + l] = row[l];
  }
  return { L, m: options.m ?? promptCount(prompts), prompts: Int32Array.from(prompts), tokens };
}

function promptCount(prompts: ArrayLike<number>): number {
  let max = -1;
  for (let i = 0; i < prompts.length; i++) max = Math.max(max, prompts[i]);
  return max + 1;
}

function checkInputs(prompts: ArrayLike<number>, n: number, L: number): void {
  if (!Number.isInteger(L) || L < 1) throw new MetError(ErrorTypes.BadInput, `L must be a positive integer, got ${L}`);
  if (prompts.length !== n) throw new MetError(ErrorTypes.BadInput, `${prompts.length} prompt indices for ${n} completions: give one prompt index per completion`);
  for (let i = 0; i < prompts.length; i++) {
    if (!Number.isInteger(prompts[i]) || prompts[i] < 0) throw new MetError(ErrorTypes.BadInput, `prompt index ${prompts[i]} at row ${i} must be a non-negative integer`);
  }
}

/** Number of rows of a sample. */
export function rows(sample: EncodedSample): number {
  return sample.prompts.length;
}
