import type { EncodedSample } from './types';

/**
 * Half of a pool: each prompt's rows alternate between half A (0) and half B (1) in sample-index
 * order. Every sample has its own seed, so the halves are independent draws of the same model.
 */
export function poolHalf(sample: EncodedSample, half: 0 | 1, scores?: Float64Array): { sample: EncodedSample; scores?: Float64Array } {
  const seen = new Int32Array(sample.m);
  const keep: number[] = [];
  for (let i = 0; i < sample.prompts.length; i++) if (seen[sample.prompts[i]]++ % 2 === half) keep.push(i);
  const { L } = sample;
  const tokens = new Int32Array(keep.length * L);
  keep.forEach((row, j) => tokens.set(sample.tokens.subarray(row * L, row * L + L), j * L));
  return {
    sample: { ...sample, prompts: Int32Array.from(keep, (i) => sample.prompts[i]), tokens },
    ...(scores ? { scores: Float64Array.from(keep, (i) => scores[i]) } : {}),
  };
}
