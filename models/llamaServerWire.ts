import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import type { GenerateRequest, SampledCompletion } from './backend';
import type { LlamaBackend } from './llama';
import { noTokens, type ServerWire, tokenizeAt } from './serverWire';

/** llama-server's native /completion answer (the fields met reads). */
const LlamaCompletion = z.object({
  content: z.string(),
  tokens: z.array(z.number().int()).optional(),
  stop_type: z.string().optional(),
  tokens_evaluated: z.number().int().optional(),
  completion_probabilities: z.array(z.object({ id: z.number().int(), logprob: z.number() })).optional(),
});

/** What the worker holds on the server's GGUF (llama.cpp profiles): the in-process scorer, met's stored-text rule. */
export interface LlamaServerLocal {
  scorer: Pick<LlamaBackend, 'scoreTokens'> | undefined;
  storedText: ((ids: number[]) => string) | undefined;
}

/**
 * llama-server's native /completion: its prefix cache off for this request, the sampled token ids,
 * and the same sampler chain as in-process (llama.cpp's: penalties over the last 64 tokens,
 * top-k, top-p, min-p, temperature) with its other samplers off, so a sample follows the same
 * distribution as in-process. The sampled tokens' logprobs come
 * from the in-process scorer when there is one (exactly what scoring returns); else from the
 * server's `n_probs: 1` (its pre-sampling softmax in float32, over the candidates it kept).
 */
export async function llamaServerGenerate(wire: ServerWire, url: string, request: GenerateRequest, local: LlamaServerLocal): Promise<SampledCompletion> {
  const res = await fetch(`${url}/completion`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prompt: request.prompt,
      n_predict: request.maxTokens,
      temperature: request.temperature,
      top_p: request.topP,
      seed: request.seed,
      stop: request.stop ?? [],
      cache_prompt: false,
      return_tokens: true,
      samplers: ['penalties', 'top_k', 'top_p', 'min_p', 'temperature'],
      top_k: request.topK ?? 0,
      min_p: request.minP ?? 0,
      typical_p: 1,
      repeat_last_n: 64,
      repeat_penalty: request.repetitionPenalty ?? 1,
      presence_penalty: request.presencePenalty ?? 0,
      frequency_penalty: request.frequencyPenalty ?? 0,
      dry_multiplier: 0,
      xtc_probability: 0,
      n_probs: request.logprobs && !local.scorer ? 1 : 0,
      post_sampling_probs: false,
      stream: false,
    }),
    signal: AbortSignal.timeout(wire.requestTimeoutMs),
  });
  if (!res.ok)
    throw new MetError(
      res.status >= 500 ? ErrorTypes.ProviderUnavailable : ErrorTypes.ProviderRequest,
      `${url}/completion answered ${res.status}: ${(await res.text()).slice(0, 300)}`,
    );
  const r = LlamaCompletion.parse(await res.json());
  // A stop word is cut from the text but its tokens may be in `tokens`: tokenize the text then.
  let tokenIds = r.stop_type === 'word' ? undefined : r.tokens;
  if (tokenIds && tokenIds.length === 0 && r.content) throw noTokens(wire, `${url}/completion`, r.content);
  if (!tokenIds) tokenIds = r.content ? await tokenizeAt(wire, url, r.content, false) : [];
  let tokenLogprobs: number[] | null = null;
  if (request.logprobs && local.scorer) tokenLogprobs = tokenIds.length ? await local.scorer.scoreTokens(request.prompt, tokenIds) : [];
  else if (request.logprobs) {
    const probs = r.completion_probabilities ?? [];
    if (probs.length < tokenIds.length || probs.slice(0, tokenIds.length).some((p, i) => p.id !== tokenIds[i])) {
      throw new MetError(ErrorTypes.ProviderRequest, `${url}/completion reported ${probs.length} token probabilities for ${tokenIds.length} tokens`);
    }
    tokenLogprobs = probs.slice(0, tokenIds.length).map((p) => p.logprob);
  }
  // The sampled ids' text by met's rule; after a stop word the ids came from the text, which stays as the server cut it.
  const text = local.storedText && r.stop_type !== 'word' ? local.storedText(tokenIds) : r.content;
  return { text, tokenIds, tokenLogprobs, finishReason: r.stop_type === 'limit' ? 'length' : 'stop', promptTokens: r.tokens_evaluated ?? 0 };
}

/** The context size llama-server serves (its /props), if it says. */
export async function llamaServerContextSize(url: string): Promise<number | undefined> {
  const props = (await (await fetch(`${url}/props`, { signal: AbortSignal.timeout(5_000) })).json()) as {
    default_generation_settings?: { n_ctx?: unknown };
  };
  const n = props.default_generation_settings?.n_ctx;
  return typeof n === 'number' ? n : undefined;
}
