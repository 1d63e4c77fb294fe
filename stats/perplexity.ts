/**
 * Perplexity from scored token logprobs (natural log), met's one definition.
 * - Per text: exp(-mean token logprob) over the completion's tokens, every token counted (the first
 *   completion token is predicted from the prompt, see models/llama.ts); no BOS term.
 * - Per byte: logPerplexity(sum, UTF-8 bytes of the completion), comparable across tokenizers.
 * - Ensembled over models: config/perplexitySpec.ts (combinePerplexities), from per-text sums.
 */

/** -sum / count: the log-perplexity of `count` units (tokens or bytes) whose logprobs sum to `sum`. */
export function logPerplexity(sum: number, count: number): number {
  if (!(count > 0)) throw new Error('perplexity over no tokens is undefined: the text has no tokens (or bytes)');
  return -sum / count;
}

/** exp(-sum / count), or undefined when there is nothing to average (a side with no scored tokens). */
export function perplexityOrUndefined(sum: number, count: number): number | undefined {
  return count > 0 ? Math.exp(logPerplexity(sum, count)) : undefined;
}

export function perplexity(tokenLogprobs: readonly number[]): number {
  if (tokenLogprobs.length === 0) throw new Error('perplexity of an empty completion is undefined: it has no tokens');
  return Math.exp(logPerplexity(sumOf(tokenLogprobs), tokenLogprobs.length));
}

export function sumOf(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum;
}
