import { isTokenLevel, type TextBackend } from '../models/backend';

/**
 * Teacher-forced scores of a prompt, as vLLM's OpenAI server returns them for `echo` + `logprobs`
 * (the legacy completions logprobs object) and for its `prompt_logprobs` extension:
 * - a text prompt is tokenized with the tokenizer's BOS first (vLLM's add_special_tokens default);
 *   a token-id prompt is used as given;
 * - the first token has no logprob (null): nothing precedes it;
 * - `logprobs: N` / `prompt_logprobs: N` add the N most likely tokens at each position, and the
 *   prompt's own token is always among the entries.
 * A backend without token-level access (the deterministic text generator) scores the text from an
 * empty context: its first token is null too, ranks and alternatives are unknown.
 */
export interface PromptScores {
  ids: number[];
  texts: string[];
  /** null for the first token. */
  logprobs: (number | null)[];
  ranks: (number | null)[];
  top: [number, number][][];
}

export class PromptScoringError extends Error {}

export async function scorePrompt(backend: TextBackend, prompt: string | number[], top: number): Promise<PromptScores> {
  if (isTokenLevel(backend)) {
    const ids = typeof prompt === 'string' ? [...(backend.bosToken === undefined ? [] : [backend.bosToken]), ...backend.tokenize(prompt)] : prompt;
    const vocab = backend.vocabularySize;
    const bad = vocab === undefined ? undefined : ids.find((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
    if (bad !== undefined) throw new PromptScoringError(`token id ${bad} is outside the vocabulary (0..${vocab! - 1})`);
    const scores = await backend.scoreSequence(ids, top);
    return {
      ids,
      texts: ids.map((t) => backend.detokenize([t])),
      logprobs: ids.length ? [null, ...scores.logprobs] : [],
      ranks: ids.length ? [null, ...scores.ranks] : [],
      top: ids.length ? [[], ...scores.top] : [],
    };
  }
  if (typeof prompt !== 'string') throw new PromptScoringError('token-id prompts need a model with a tokenizer (met serve --model file.gguf)');
  const scored = await backend.score('', prompt);
  return {
    ids: scored.tokenIds,
    texts: scored.tokenTexts,
    logprobs: scored.tokenLogprobs.map((v, i) => (i === 0 ? null : v)),
    ranks: scored.tokenIds.map(() => null),
    top: scored.tokenIds.map(() => []),
  };
}

/** The legacy completions `logprobs` object for echoed prompt tokens followed by generated ones. */
export function echoLogprobs(
  prompt: PromptScores,
  generated: { texts: string[]; logprobs: number[] | null },
  top: number,
  textOf: (id: number) => string,
): { tokens: string[]; token_logprobs: (number | null)[]; top_logprobs: (Record<string, number> | null)[]; text_offset: number[] } {
  const tokens = [...prompt.texts, ...generated.texts];
  const tokenLogprobs = [...prompt.logprobs, ...(generated.logprobs ?? generated.texts.map(() => null))];
  const topLogprobs: (Record<string, number> | null)[] = prompt.logprobs.map((lp, i) => {
    if (lp === null) return null;
    const entry: Record<string, number> = {};
    for (const [id, v] of prompt.top[i].slice(0, top)) entry[textOf(id)] = v;
    entry[prompt.texts[i]] = lp;
    return entry;
  });
  generated.texts.forEach((text, i) => topLogprobs.push(generated.logprobs ? { [text]: generated.logprobs[i] } : null));
  const textOffset: number[] = [];
  let offset = 0;
  for (const t of tokens) {
    textOffset.push(offset);
    offset += t.length;
  }
  return { tokens, token_logprobs: tokenLogprobs, top_logprobs: topLogprobs, text_offset: textOffset };
}

/** vLLM's `prompt_logprobs`: per position null (first) or {token id: {logprob, rank, decoded_token}}. */
export function promptLogprobsField(
  prompt: PromptScores,
  top: number,
  textOf: (id: number) => string,
): (Record<string, { logprob: number; rank: number | null; decoded_token: string }> | null)[] {
  return prompt.logprobs.map((lp, i) => {
    if (lp === null) return null;
    const entry: Record<string, { logprob: number; rank: number | null; decoded_token: string }> = {};
    entry[String(prompt.ids[i])] = { logprob: lp, rank: prompt.ranks[i], decoded_token: prompt.texts[i] };
    prompt.top[i].slice(0, top).forEach(([id, v], k) => {
      if (!(String(id) in entry)) entry[String(id)] = { logprob: v, rank: k + 1, decoded_token: textOf(id) };
    });
    return entry;
  });
}
