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
