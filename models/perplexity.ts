/**
 * Perplexity from scored token logprobs (natural log).
 * - Per text: exp(-mean token logprob) over the completion's tokens, every token counted (the first
 *   completion token is predicted from the prompt, see models/llama.ts); no BOS term.
 * - Per byte: -sum logprob / UTF-8 bytes of the completion, comparable across tokenizers.
 * - Ensembled: the mean of the models' log-perplexities (and each model's value).
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

export interface EnsembleMember {
  model: string;
  tokenLogprobs: readonly number[];
}

export function ensembledPerplexity(members: readonly EnsembleMember[], text: string, perByte = false) {
  if (members.length === 0) throw new Error('an ensemble needs at least one model');
  const perModel = members.map((m) => ({
    model: m.model,
    logPerplexity: perByte ? nllPerByte(m.tokenLogprobs, text) : Math.log(perplexity(m.tokenLogprobs)),
  }));
  const meanLog = perModel.reduce((a, m) => a + m.logPerplexity, 0) / perModel.length;
  return { perplexity: Math.exp(meanLog), logPerplexity: meanLog, perModel };
}
