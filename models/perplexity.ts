/**
 * Perplexity from scored token logprobs (natural log).
 * - Per text: exp(-mean token logprob) over the completion's tokens, every token counted (the first
 *   completion token is predicted from the prompt, see models/llama.ts); no BOS term.
 * - Per byte: -sum logprob / UTF-8 bytes of the completion, comparable across tokenizers.
 * - Ensembled over models: config/perplexitySpec.ts (combinePerplexities), from per-text sums.
 */
export function perplexity(tokenLogprobs: readonly number[]): number {
  if (tokenLogprobs.length === 0) throw new Error('perplexity of an empty completion is undefined: it has no tokens');
  return Math.exp(-tokenLogprobs.reduce((a, b) => a + b, 0) / tokenLogprobs.length);
}

export function nllPerByte(tokenLogprobs: readonly number[], text: string): number {
  const bytes = new TextEncoder().encode(text).length;
  if (bytes === 0) throw new Error('per-byte likelihood of an empty text is undefined');
  return -tokenLogprobs.reduce((a, b) => a + b, 0) / bytes;
}
