import type OpenAI from 'openai';
import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import type { GenerateRequest, SampledCompletion } from './backend';
import { noTokens, type ServerWire, tokenizeAt } from './serverWire';

const EchoLogprobs = z.object({ tokens: z.array(z.string()), token_logprobs: z.array(z.number().nullable()) });
const PromptLogprobs = z.array(z.record(z.string(), z.object({ logprob: z.number(), decoded_token: z.string().nullable().optional() })).nullable());

/** A scoring route of an OpenAI-compatible server: echo + logprobs with max_tokens 0 or 1, or vLLM's prompt_logprobs. */
export type ScoringMode = 'echo' | 'echo1' | 'prompt_logprobs';

/**
 * A sample through the official `openai` client (vLLM, other OpenAI-compatible servers): the sampled
 * ids as vLLM returns them, else the server's tokenizer where the profile has one, else none stored.
 */
export async function openaiGenerate(wire: ServerWire, client: OpenAI, url: string, request: GenerateRequest, vllm: boolean): Promise<SampledCompletion> {
  const r = await client.completions.create({
    model: wire.model,
    prompt: request.prompt,
    max_tokens: request.maxTokens,
    temperature: request.temperature,
    top_p: request.topP,
    seed: request.seed,
    stop: request.stop?.length ? request.stop : undefined,
    logprobs: request.logprobs ? 0 : undefined,
    ...samplerFields(request),
    // vLLM: the sampled ids, so nothing is re-tokenized (met serve always sends them). Not sent to
    // unknown servers: a strict one refuses fields it does not know.
    ...(vllm ? ({ return_token_ids: true } as object) : {}),
  });
  const choice = r.choices[0] as (typeof r.choices)[number] & { token_ids?: number[] | null };
  let tokenIds: number[] | null = choice.token_ids ?? null;
  if (tokenIds && tokenIds.length === 0 && choice.text) throw noTokens(wire, 'the completion', choice.text);
  // Without sampled ids: the server's tokenizer where the profile has one, else none stored (never []).
  if (!tokenIds) tokenIds = !choice.text ? [] : vllm ? await tokenizeAt(wire, url, choice.text, false) : null;
  const tokenLogprobs = request.logprobs ? (choice.logprobs?.token_logprobs ?? null) : null;
  return {
    text: choice.text,
    tokenIds,
    tokenLogprobs,
    finishReason: choice.finish_reason === 'stop' ? 'stop' : 'length',
    promptTokens: r.usage?.prompt_tokens ?? 0,
  };
}

/** Logprob of every token of `ids` after the first (entry 0 is null), by one scoring route. */
export async function scoreWith(client: OpenAI, model: string, ids: number[], mode: ScoringMode): Promise<{ logprobs: (number | null)[]; texts: string[] }> {
  if (mode === 'prompt_logprobs') {
    const r = await client.completions.create({ model, prompt: ids, max_tokens: 1, temperature: 0, ...({ prompt_logprobs: 0 } as object) });
    const entries = PromptLogprobs.parse((r.choices[0] as unknown as { prompt_logprobs: unknown }).prompt_logprobs);
    if (entries.length !== ids.length) throw new MetError(ErrorTypes.ProviderRequest, `prompt_logprobs has ${entries.length} entries for ${ids.length} tokens`);
    const logprobs = entries.map((e, i) => (e ? (e[String(ids[i])]?.logprob ?? null) : null));
    const texts = entries.map((e, i) => (e ? (e[String(ids[i])]?.decoded_token ?? String(ids[i])) : String(ids[i])));
    return { logprobs, texts };
  }
  const r = await client.completions.create({ model, prompt: ids, echo: true, max_tokens: mode === 'echo' ? 0 : 1, logprobs: 0, temperature: 0 });
  const lp = EchoLogprobs.parse(r.choices[0].logprobs);
  if (lp.token_logprobs.length < ids.length)
    throw new MetError(ErrorTypes.ProviderRequest, `echo returned ${lp.token_logprobs.length} logprobs for ${ids.length} prompt tokens`);
  // With max_tokens 1 the generated token follows the prompt's: keep the prompt's only.
  return { logprobs: lp.token_logprobs.slice(0, ids.length), texts: lp.tokens.slice(0, ids.length) };
}

/** The model's context length as the server's model card says it (vLLM's max_model_len), if it does. */
export async function openaiContextSize(client: OpenAI, model: string): Promise<number | undefined> {
  const models = await client.models.list();
  const card = models.data.find((m) => m.id === model) ?? models.data[0];
  const len = (card as { max_model_len?: unknown } | undefined)?.max_model_len;
  return typeof len === 'number' ? len : undefined;
}

/** The optional sampler settings of a request as vLLM's request fields (only those set). */
function samplerFields(request: GenerateRequest): Record<string, number> {
  const fields: Record<string, number> = {};
  if (request.topK) fields.top_k = request.topK;
  if (request.minP) fields.min_p = request.minP;
  if (request.repetitionPenalty !== undefined) fields.repetition_penalty = request.repetitionPenalty;
  if (request.presencePenalty !== undefined) fields.presence_penalty = request.presencePenalty;
  if (request.frequencyPenalty !== undefined) fields.frequency_penalty = request.frequencyPenalty;
  return fields;
}
