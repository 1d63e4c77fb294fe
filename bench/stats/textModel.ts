/**
 * Synthetic, text-like completions for the benchmarks: a character trigram chain fitted to a short
 * English passage, one "model" per (prompt, temperature-like variant). Each prompt has its own
 * opening words (completions of one prompt share their first characters, as LLM answers do) and
 * lengths spread up to L (most long, some short), so pad runs and matches look like real data.
 */
import { Rng } from '../../stats/rng';
import type { EncodedSample } from '../../stats/types';

const PASSAGE = `the quick answer is that it depends on the model and on the prompt. a language model
predicts the next token from the ones before it, and the way it samples from that prediction changes
the text it writes. when two providers serve the same weights, their answers to the same question
should look alike in distribution, though no two answers need to be the same. quantized weights, a
different system prompt or a watermark shift that distribution a little, and with enough samples a
test can tell. there is a time to be born and a time to die, a time to plant and a time to pluck up
that which is planted. the committee met on tuesday to discuss the budget for the coming year, and
after a long debate they agreed to fund the library, the park and the new school on the hill.`;

interface Chain {
  alphabet: string[];
  /** next[(a * V + b)] = cumulative distribution over the next symbol after the pair (a, b). */
  cdf: Float64Array;
}

function fitChain(text: string): Chain {
  const clean = text.replace(/\s+/g, ' ');
  const alphabet = [...new Set(clean)].sort();
  const V = alphabet.length;
  const id = new Map(alphabet.map((c, i) => [c, i]));
  const counts = new Float64Array(V * V * V).fill(0.004); // light smoothing: every continuation stays possible
  for (let i = 2; i < clean.length; i++) counts[(id.get(clean[i - 2])! * V + id.get(clean[i - 1])!) * V + id.get(clean[i])!] += 1;
  const cdf = new Float64Array(V * V * V);
  for (let ctx = 0; ctx < V * V; ctx++) {
    let sum = 0;
    for (let c = 0; c < V; c++) sum += counts[ctx * V + c];
    let acc = 0;
    for (let c = 0; c < V; c++) {
      acc += counts[ctx * V + c] / sum;
      cdf[ctx * V + c] = acc;
    }
  }
  return { alphabet, cdf };
}

const chain = fitChain(PASSAGE);

const WORDS = PASSAGE.replace(/\s+/g, ' ').split(' ');
const CODES = chain.alphabet.map((c) => c.codePointAt(0)!);

/**
 * One completion written straight into `out` (code points, no strings, so 10,000 rows per side cost
 * only their Int32 rows): the prompt's two opening words, then the chain; `sharpness` > 1 skews the
 * draws toward the most frequent continuations.
 */
function complete(rng: Rng, prompt: number, length: number, sharpness: number, out: Int32Array, at: number): void {
  const { alphabet, cdf } = chain;
  const V = alphabet.length;
  const opening = `${WORDS[(prompt * 7) % WORDS.length]} ${WORDS[(prompt * 13 + 3) % WORDS.length]} `;
  let l = 0;
  for (; l < Math.min(length, opening.length); l++) out[at + l] = opening.codePointAt(l)!;
  let a = alphabet.indexOf(opening[opening.length - 2]);
  let b = alphabet.indexOf(opening[opening.length - 1]);
  for (; l < length; l++) {
    const ctx = (a * V + b) * V;
    let u = rng.float();
    if (sharpness !== 1) u = u ** sharpness;
    let c = 0;
    while (c < V - 1 && cdf[ctx + c] < u) c++;
    out[at + l] = CODES[c];
    a = b;
    b = c;
  }
}

/** m prompts x perPrompt completions, lengths up to L (70% between L/2 and L, 30% shorter), char unit. */
export function textSample(rng: Rng, m: number, perPrompt: number, L: number, sharpness = 1): EncodedSample {
  const n = m * perPrompt;
  const prompts = new Int32Array(n);
  const tokens = new Int32Array(n * L).fill(-1);
  for (let r = 0; r < m; r++) {
    for (let s = 0; s < perPrompt; s++) {
      const i = r * perPrompt + s;
      const length = rng.float() < 0.7 ? Math.floor(L / 2) + rng.int(Math.ceil(L / 2)) + 1 : 1 + rng.int(Math.floor(L / 2));
      prompts[i] = r;
      complete(rng, r, Math.min(length, L), sharpness, tokens, i * L);
    }
  }
  return { L, m, prompts, tokens, pad: -1 };
}

/** The text of row i (for looking at the data). */
export function rowText(s: EncodedSample, i: number): string {
  return String.fromCodePoint(...Array.from(s.tokens.subarray(i * s.L, (i + 1) * s.L)).filter((c) => c >= 0));
}
