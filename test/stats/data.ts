import { encodeChars } from '../../stats/encode';
import { Rng } from '../../stats/rng';
import type { EncodedSample } from '../../stats/types';

/**
 * A toy "model": per prompt, completions from a small vocabulary with skewed probabilities; `shift`
 * moves probability mass from the most likely completion to the least likely one.
 */
export function toyModel(rng: Rng, m: number, perPrompt: number, shift = 0, L = 24): EncodedSample {
  const vocab = ['the cat sat', 'the cat ran', 'a dog sat', 'a dog ran', 'the bird flew', 'no one came'];
  const weights = [0.3, 0.25, 0.2, 0.1, 0.1, 0.05].map((w, i) => (i === 0 ? w - shift : i === 5 ? w + shift : w));
  const prompts: number[] = [];
  const completions: string[] = [];
  for (let r = 0; r < m; r++) {
    for (let s = 0; s < perPrompt; s++) {
      let u = rng.float();
      let k = 0;
      while (k < weights.length - 1 && u >= weights[k]) u -= weights[k++];
      prompts.push(r);
      completions.push(`${vocab[k]} ${r}`);
    }
  }
  return encodeChars(prompts, completions, L, m);
}

/** Text-like completions from a character Markov chain (temperature-like `noise`), random lengths up to L. */
export function markovText(rng: Rng, m: number, perPrompt: number, L: number, noise = 0.3): EncodedSample {
  const alphabet = 'etaoin shrdlucmfwypvbgkjqxz.,';
  const prompts: number[] = [];
  const completions: string[] = [];
  for (let r = 0; r < m; r++) {
    for (let s = 0; s < perPrompt; s++) {
      const len = 1 + rng.int(L);
      let prev = r % alphabet.length;
      let text = '';
      for (let i = 0; i < len; i++) {
        prev = rng.float() < noise ? rng.int(alphabet.length) : (prev * 7 + 3) % alphabet.length;
        text += alphabet[prev];
      }
      prompts.push(r);
      completions.push(text);
    }
  }
  return encodeChars(prompts, completions, L, m);
}

/** The same rows in another order. */
export function shuffledRows(rng: Rng, s: EncodedSample): EncodedSample {
  const n = s.prompts.length;
  const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const tokens = new Int32Array(s.tokens.length);
  order.forEach((src, dst) => tokens.set(s.tokens.subarray(src * s.L, (src + 1) * s.L), dst * s.L));
  return { ...s, prompts: Int32Array.from(order, (src) => s.prompts[src]), tokens };
}
