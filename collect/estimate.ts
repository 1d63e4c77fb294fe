import type { RunSpec } from '../config/runSpec';
import { sourceLabel } from '../config/runSpec';

/**
 * What a run will cost before it runs (`met collect SPEC --dry-run`): requests, work units and
 * tokens per source, and dollars where the worker config prices the provider. Pure.
 *
 * Two figures per source. The upper bound: every prompt at its token bound (UTF-8 bytes plus a
 * template allowance, promptTokenBound below: the bound a budget uses) and every completion at
 * maxTokens. The estimate, from a pilot (`--pilot N`: N of the run's own requests actually sent,
 * spread evenly over its prompts and sample indices, with the seeds the run will use): prompt
 * tokens as the provider counted them for the pilot's prompts, scaled to all prompts by their
 * UTF-8 bytes (tokens per byte is a property of the tokenizer and the language, steady across a
 * prompt set), and completion tokens as the pilot's mean per sample times the samples, with a 95%
 * interval from the pilot's standard error. Without a pilot there is no estimate, only the bound.
 */
export interface Prices {
  inputPerMillion: number;
  outputPerMillion: number;
}

/** What a pilot request reported (null: the provider reported no usage). */
export interface PilotSample {
  promptIndex: number;
  promptTokens: number | null;
  completionTokens: number | null;
}

export interface SourceEstimate {
  model: string;
  source: string;
  kind: 'provider' | 'local';
  provider?: string;
  requests: number;
  units: number;
  /** At most this many prompt tokens (see promptTokenBound). */
  promptTokensBound: number;
  maxCompletionTokens: number;
  /** USD at most; null: no price known (local sources cost 0). */
  maxCost: number | null;
  /** From a pilot, when one ran for this source. */
  estimate?: {
    promptTokens: number;
    /** tokenizer: every prompt counted by the endpoint's /tokenize; pilot: the pilot's counts scaled by bytes; bytes: 4 bytes a token (no usage reported). */
    promptTokensFrom: 'tokenizer' | 'pilot' | 'bytes';
    completionTokens: number;
    /** USD (null: no price); low/high: the 95% interval from the completions' standard error. */
    cost: number | null;
    costLow: number | null;
    costHigh: number | null;
    pilot: { requests: number; promptTokens: number; completionTokens: number; cost: number | null };
  };
}

export const BYTES_PER_TOKEN = 4;

export function estimatePromptTokens(text: string): number {
  return Math.ceil(utf8Bytes(text) / BYTES_PER_TOKEN);
}

const encoder = new TextEncoder();
export function utf8Bytes(text: string): number {
  return encoder.encode(text).length;
}

export function estimateRun(
  spec: RunSpec,
  prompts: string[],
  prices: Record<string, Prices | undefined>,
  pilots: Record<number, PilotSample[]> = {},
  /** Per source index: every prompt's token count from the endpoint's tokenizer, when it has one. */
  tokenized: Record<number, number[]> = {},
): { sources: SourceEstimate[]; totalMaxCost: number | null; totalEstimate: number | null } {
  const boundPerPass = prompts.reduce((n, p) => n + promptTokenBound(p, spec.sampling), 0);
  const samples = prompts.length * spec.samplesPerPrompt;
  const sources = spec.sources.map((s, index): SourceEstimate => {
    // With n > 1 a prompt's samples go n to a request: its prompt is billed once per request.
    const perPrompt = requestsPerPrompt(spec.samplesPerPrompt, s.kind === 'provider' ? s.n : undefined);
    const requests = prompts.length * perPrompt;
    const promptTokensBound = boundPerPass * perPrompt;
    const maxCompletionTokens = samples * spec.sampling.maxTokens;
    const price = s.kind === 'provider' ? prices[s.provider] : undefined;
    const maxCost = s.kind === 'local' ? 0 : price ? usageCost(price, promptTokensBound, maxCompletionTokens) : null;
    const pilot = pilots[index];
    return {
      model: s.model,
      source: sourceLabel(s),
      kind: s.kind,
      ...(s.kind === 'provider' ? { provider: s.provider } : {}),
      requests,
      units: Math.ceil(samples / spec.unitSize),
      promptTokensBound,
      maxCompletionTokens,
      maxCost,
      ...(pilot?.length ? { estimate: fromPilot(spec, prompts, pilot, price, perPrompt, tokenized[index]) } : {}),
    };
  });
  const total = (values: (number | null | undefined)[]) =>
    values.some((v) => v === null || v === undefined) ? null : values.reduce<number>((n, v) => n + (v ?? 0), 0);
  return {
    sources,
    totalMaxCost: total(sources.map((s) => s.maxCost)),
    totalEstimate: total(sources.map((s) => (s.kind === 'local' ? 0 : s.estimate?.cost))),
  };
}

/** Requests per prompt: samplesPerPrompt, or with n per request ceil(samplesPerPrompt / n). */
export function requestsPerPrompt(samplesPerPrompt: number, n: number | undefined): number {
  return Math.ceil(samplesPerPrompt / (n ?? 1));
}

/** From a pilot of one-sample requests: prompt tokens per request (times the run's requests), completion tokens per sample. */
function fromPilot(
  spec: RunSpec,
  prompts: string[],
  pilot: PilotSample[],
  price: Prices | undefined,
  perPrompt: number,
  tokenized?: number[],
): NonNullable<SourceEstimate['estimate']> {
  const system = spec.sampling.endpoint === 'chat' && spec.sampling.systemPrompt ? utf8Bytes(spec.sampling.systemPrompt) : 0;
  const bytesOf = (i: number) => utf8Bytes(prompts[i]) + system;
  const samples = prompts.length * spec.samplesPerPrompt;
  const allBytes = prompts.reduce((n, _p, i) => n + bytesOf(i), 0) * perPrompt;
  const withPrompt = pilot.filter((p) => p.promptTokens !== null);
  const pilotPromptTokens = withPrompt.reduce((n, p) => n + (p.promptTokens ?? 0), 0);
  const pilotBytes = withPrompt.reduce((n, p) => n + bytesOf(p.promptIndex), 0);
  // Counted by the endpoint's tokenizer; else scaled from the pilot; no usage reported: the rule of thumb (4 bytes a token).
  const promptTokensFrom = tokenized && tokenized.length === prompts.length ? 'tokenizer' : pilotBytes > 0 ? 'pilot' : 'bytes';
  const promptTokens =
    promptTokensFrom === 'tokenizer'
      ? tokenized!.reduce((a, b) => a + b, 0) * perPrompt
      : promptTokensFrom === 'pilot'
        ? (pilotPromptTokens / pilotBytes) * allBytes
        : allBytes / BYTES_PER_TOKEN;
  const completions = pilot.flatMap((p) => (p.completionTokens === null ? [] : [p.completionTokens]));
  const mean = completions.length ? completions.reduce((a, b) => a + b, 0) / completions.length : spec.sampling.maxTokens;
  const variance = completions.length > 1 ? completions.reduce((a, b) => a + (b - mean) ** 2, 0) / (completions.length - 1) : 0;
  const completionTokens = mean * samples;
  const halfWidth = 1.96 * Math.sqrt(variance / Math.max(1, completions.length)) * samples;
  const cost = price ? usageCost(price, promptTokens, completionTokens) : null;
  const pilotCompletion = completions.reduce((a, b) => a + b, 0);
  return {
    promptTokens: Math.round(promptTokens),
    promptTokensFrom,
    completionTokens: Math.round(completionTokens),
    cost,
    costLow: price ? usageCost(price, promptTokens, Math.max(0, completionTokens - halfWidth)) : null,
    costHigh: price ? usageCost(price, promptTokens, Math.min(samples * spec.sampling.maxTokens, completionTokens + halfWidth)) : null,
    pilot: {
      requests: pilot.length,
      promptTokens: pilotPromptTokens,
      completionTokens: pilotCompletion,
      cost: price ? usageCost(price, pilotPromptTokens, pilotCompletion) : null,
    },
  };
}

/** The run's flat positions a pilot of n requests samples: spread evenly over prompts and sample indices. */
export function pilotPositions(total: number, n: number): number[] {
  const out = new Set<number>();
  for (let k = 0; k < Math.min(n, total); k++) out.add(Math.floor(((k + 0.5) * total) / Math.min(n, total)));
  return [...out];
}

/**
 * Tokens a chat template or BOS/EOS may add to a prompt beyond its text: role markers, turn
 * separators. Generous on purpose (the longest templates in common use add about 20 per message).
 */
export const TEMPLATE_TOKENS = { completions: 4, chat: 64 } as const;

/**
 * At most how many prompt tokens one request for `prompt` is billed. Byte-level BPE and
 * SentencePiece-with-byte-fallback tokenizers (GPT, Llama, Gemma, Mistral, Qwen) never emit a
 * non-special token for less than one UTF-8 byte, so a text of B bytes is at most B tokens; the
 * template adds at most TEMPLATE_TOKENS.
 */
export function promptTokenBound(prompt: string, sampling: Pick<RunSpec['sampling'], 'endpoint' | 'systemPrompt'>): number {
  const system = sampling.endpoint === 'chat' && sampling.systemPrompt ? utf8Bytes(sampling.systemPrompt) : 0;
  return utf8Bytes(prompt) + system + TEMPLATE_TOKENS[sampling.endpoint];
}

/** USD for token counts at a provider's prices. */
export function usageCost(prices: Prices, promptTokens: number, completionTokens: number): number {
  return (promptTokens * prices.inputPerMillion + completionTokens * prices.outputPerMillion) / 1e6;
}

/** The most one sample can cost: its prompt at the token bound, its completion at maxTokens. */
export function sampleCostBound(prices: Prices, prompt: string, sampling: Pick<RunSpec['sampling'], 'endpoint' | 'systemPrompt' | 'maxTokens'>): number {
  return usageCost(prices, promptTokenBound(prompt, sampling), sampling.maxTokens);
}
