import { z } from 'zod';

/**
 * Row schemas of met's Parquet corpora. zod validates at the boundary (writers, readers of foreign
 * files); the matching DuckDB column types live beside each schema in datasets/ (owned by the
 * storage layer). Bump SCHEMA_VERSION on any incompatible change; readers reject newer versions.
 */
export const SCHEMA_VERSION = 1;

export const FinishReason = z.enum(['stop', 'length', 'content_filter', 'tool_calls', 'error', 'unknown']);

export const SamplingParams = z.object({
  temperature: z.number().min(0).max(2),
  topP: z.number().gt(0).max(1),
  maxTokens: z.number().int().positive(),
  stop: z.array(z.string()).default([]),
  endpoint: z.enum(['completions', 'chat']),
});
export type SamplingParams = z.infer<typeof SamplingParams>;

/** One completion. The sample key is (corpus, model, source, promptId, sampleIndex). */
export const SampleRow = z.object({
  corpus: z.string().min(1),
  runId: z.string().min(1),
  unitId: z.string().min(1),
  model: z.string().min(1),
  source: z.string().min(1),
  promptSet: z.string().min(1),
  promptId: z.string().min(1),
  sampleIndex: z.number().int().nonnegative(),
  prompt: z.string(),
  completion: z.string().nullable(),
  tokenIds: z.array(z.number().int()).nullable(),
  tokenLogprobs: z.array(z.number()).nullable(),
  finishReason: FinishReason,
  sampling: SamplingParams,
  seed: z.number().int().nullable(),
  providerModel: z.string().nullable(),
  requestId: z.string().nullable(),
  latencyMs: z.number().nonnegative().nullable(),
  createdAt: z.date(),
});
export type SampleRow = z.infer<typeof SampleRow>;

/** Logprobs of one stored completion under a scorer model. */
export const LogprobRow = z.object({
  corpus: z.string().min(1),
  model: z.string().min(1),
  source: z.string().min(1),
  promptId: z.string().min(1),
  sampleIndex: z.number().int().nonnegative(),
  scorerModel: z.string().min(1),
  scorerPrecision: z.string().min(1),
  tokenIds: z.array(z.number().int()),
  tokenLogprobs: z.array(z.number()),
  sum: z.number(),
  count: z.number().int().nonnegative(),
});
export type LogprobRow = z.infer<typeof LogprobRow>;

export const PromptRow = z.object({
  promptSet: z.string().min(1),
  promptId: z.string().min(1),
  sourceDataset: z.string(),
  language: z.string().nullable(),
  text: z.string(),
  /** JSON-encoded chat messages, or null for plain-text prompts. */
  messages: z.string().nullable(),
});
export type PromptRow = z.infer<typeof PromptRow>;
