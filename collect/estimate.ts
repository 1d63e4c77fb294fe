import type { RunSpec } from '../config/runSpec';
import { sourceLabel } from '../config/runSpec';

/**
 * What a run will cost before it runs (`met collect SPEC --dry-run`): requests, work units and
 * tokens per source, and dollars where the worker config prices the provider. Pure.
 *
 * Tokens are estimated without the provider's tokenizer: prompt tokens as ceil(UTF-8 bytes / 4) per
 * prompt (and system prompt), the usual rule of thumb for English BPE vocabularies; completion
 * tokens at their ceiling, maxTokens per request, so the dollar figure is an upper bound on output.
 */
export interface Prices {
  inputPerMillion: number;
  outputPerMillion: number;
}

export interface SourceEstimate {
  model: string;
  source: string;
  kind: 'provider' | 'local';
  provider?: string;
  requests: number;
  units: number;
  promptTokens: number;
  maxCompletionTokens: number;
  /** USD at most (completion tokens at maxTokens); null: no price known (local sources cost 0). */
  maxCost: number | null;
}

export const BYTES_PER_TOKEN = 4;

export function estimatePromptTokens(text: string): number {
  return Math.ceil(new TextEncoder().encode(text).length / BYTES_PER_TOKEN);
}

export function estimateRun(spec: RunSpec, prompts: string[], prices: Record<string, Prices | undefined>): { sources: SourceEstimate[]; totalMaxCost: number | null } {
  const system = spec.sampling.endpoint === 'chat' && spec.sampling.systemPrompt ? estimatePromptTokens(spec.sampling.systemPrompt) : 0;
  const perPass = prompts.reduce((n, p) => n + estimatePromptTokens(p) + system, 0);
  const requests = prompts.length * spec.samplesPerPrompt;
  const sources = spec.sources.map((s): SourceEstimate => {
    const promptTokens = perPass * spec.samplesPerPrompt;
    const maxCompletionTokens = requests * spec.sampling.maxTokens;
    const price = s.kind === 'provider' ? prices[s.provider] : undefined;
    const maxCost = s.kind === 'local' ? 0 : price ? (promptTokens * price.inputPerMillion + maxCompletionTokens * price.outputPerMillion) / 1e6 : null;
    return {
      model: s.model,
      source: sourceLabel(s),
      kind: s.kind,
      ...(s.kind === 'provider' ? { provider: s.provider } : {}),
      requests,
      units: Math.ceil(requests / spec.unitSize),
      promptTokens,
      maxCompletionTokens,
      maxCost,
    };
  });
  const totalMaxCost = sources.some((s) => s.maxCost === null) ? null : sources.reduce((n, s) => n + (s.maxCost ?? 0), 0);
  return { sources, totalMaxCost };
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
  const bytes = (t: string) => new TextEncoder().encode(t).length;
  const system = sampling.endpoint === 'chat' && sampling.systemPrompt ? bytes(sampling.systemPrompt) : 0;
  return bytes(prompt) + system + TEMPLATE_TOKENS[sampling.endpoint];
}

/** USD for token counts at a provider's prices. */
export function usageCost(prices: Prices, promptTokens: number, completionTokens: number): number {
  return (promptTokens * prices.inputPerMillion + completionTokens * prices.outputPerMillion) / 1e6;
}

/** The most one sample can cost: its prompt at the token bound, its completion at maxTokens. */
export function sampleCostBound(prices: Prices, prompt: string, sampling: Pick<RunSpec['sampling'], 'endpoint' | 'systemPrompt' | 'maxTokens'>): number {
  return usageCost(prices, promptTokenBound(prompt, sampling), sampling.maxTokens);
}
