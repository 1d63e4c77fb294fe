import { z } from 'zod';

/**
 * Row schemas of met's Parquet corpora. zod validates at the boundary (writers, readers of foreign
 * files); the matching DuckDB column types are in datasets/tables.ts, one column per field. Bump
 * SCHEMA_VERSION on any incompatible change; readers reject files of a newer version.
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
  /**
   * The exact sampler, as JSON (config/sampler.ts SamplerRecord): settings sent or applied, extra
   * request fields, and what the source reported. null in shards written before this column.
   */
  sampler: z.string().min(1).nullable().optional(),
  /**
   * Token usage as the provider reported it for this sample's request (`usage.prompt_tokens`,
   * `usage.completion_tokens`): what it bills. null where nothing was reported (local models,
   * providers without usage) and in shards written before these columns.
   */
  promptTokens: z.number().int().nonnegative().nullable().optional(),
  completionTokens: z.number().int().nonnegative().nullable().optional(),
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
  /**
   * The decode route that computed the logprobs (docs/decoding.md): "llama.cpp in-process (CPU,
   * flash attention off, 1 sequence per decode)" for met's scorer, "vllm server (...)" for a vLLM
   * profile. Tests refuse to mix two routes of one scorer. null in shards written before met
   * recorded it (they have no such column; it reads as null).
   */
  scorerBackend: z.string().min(1).nullable().optional(),
  /**
   * 1-based rank of each token in its position's distribution under the scorer (the rank-based
   * uniformity test's log_rank score); null when the scorer does not compute ranks, and in shards
   * written before this column existed.
   */
  tokenRanks: z.array(z.number().int().positive()).nullable().optional(),
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

/** One statistical test between two samples, or between a sample and a reference with logprobs. */
export const TestDecision = z.enum(['reject', 'fail_to_reject']);
export type TestDecision = z.infer<typeof TestDecision>;

export const TestResultRow = z.object({
  corpus: z.string().min(1),
  runId: z.string().min(1),
  testId: z.string().min(1),
  statistic: z.string().min(1),
  unit: z.enum(['char', 'token']),
  /** Completion length the samples were truncated/padded to. */
  L: z.number().int().positive(),
  xModel: z.string().min(1),
  xSource: z.string().min(1),
  /** The second sample; null for a one-sample test against `reference`. */
  yModel: z.string().min(1).nullable(),
  ySource: z.string().min(1).nullable(),
  /** For one-sample tests: the scored reference (scorer model and precision), else null. */
  reference: z.string().min(1).nullable(),
  promptSet: z.string().min(1),
  /** Number of prompts the sample indices range over. */
  m: z.number().int().positive(),
  n1: z.number().int().positive(),
  n2: z.number().int().positive().nullable(),
  value: z.number(),
  pValue: z.number().min(0).max(1),
  alpha: z.number().gt(0).lt(1),
  decision: TestDecision,
  /** cramer_von_mises: the rank-based uniformity test's p-value (Csörgő–Faraway, stats/rut.ts). */
  pvalueMethod: z.enum(['permutation', 'bootstrap', 'cramer_von_mises']),
  /** Permutations or bootstrap draws behind the p-value; for cramer_von_mises (rut), k: the reference completions per prompt (the smallest). */
  b: z.number().int().positive(),
  seed: z.number().int().nullable(),
  durationMs: z.number().nonnegative().nullable(),
  createdAt: z.date(),
  /** The b null statistics (optional: they can be large). */
  nullStatistics: z.array(z.number()).nullable(),
});
export type TestResultRow = z.infer<typeof TestResultRow>;

/**
 * One cell of a power simulation: `rejections` of `sims` simulated tests rejected at alpha. Field
 * names follow report/schemas.ts PowerCell so a report can be built from rows directly.
 */
export const PowerCellRow = z
  .object({
    corpus: z.string().min(1),
    runId: z.string().min(1),
    cellId: z.string().min(1),
    statistic: z.string().min(1),
    unit: z.enum(['char', 'token']),
    L: z.number().int().positive(),
    reference: z.string().min(1),
    alternative: z.string().min(1),
    /** Reference-vs-reference cell (type-I error). */
    isNull: z.boolean(),
    /** Samples per prompt per side; N = nPerPrompt * m. */
    nPerPrompt: z.number().int().positive(),
    m: z.number().int().positive(),
    /** Which random prompt subset of size m (cells differing only here are pooled). */
    subsetDraw: z.number().int().nonnegative(),
    sims: z.number().int().positive(),
    rejections: z.number().int().nonnegative(),
    power: z.number().min(0).max(1),
    alpha: z.number().gt(0).lt(1),
    b: z.number().int().positive(),
    seed: z.number().int().nullable(),
    durationMs: z.number().nonnegative().nullable(),
    createdAt: z.date(),
    /** Composite null: the second acceptable reference (the cell rejects only if both tests reject). */
    reference2: z.string().min(1).nullable(),
    /** Per simulation: the seed that redraws it, the statistic and p-value against `reference`. */
    simSeeds: z.array(z.number()).nullable(),
    simStatistics: z.array(z.number()).nullable(),
    simPvalues: z.array(z.number()).nullable(),
    /** Composite null: per simulation, the statistic and p-value against `reference2`. */
    simStatistics2: z.array(z.number()).nullable(),
    simPvalues2: z.array(z.number()).nullable(),
    /** Planner warnings about this cell (e.g. a pool too small for the draw size). */
    warnings: z.array(z.string()),
  })
  .superRefine((c, ctx) => {
    if (c.rejections > c.sims) ctx.addIssue({ code: 'custom', path: ['rejections'], message: `${c.rejections} rejections out of ${c.sims} simulations` });
    if (Math.abs(c.power - c.rejections / c.sims) > 1e-9)
      ctx.addIssue({ code: 'custom', path: ['power'], message: `power ${c.power} is not rejections/sims = ${c.rejections}/${c.sims}` });
  });
export type PowerCellRow = z.infer<typeof PowerCellRow>;

/**
 * One endpoint at one firing of an audit (workflow auditFiring): the raw p-value of that firing's
 * test against the reference, whether it rejected at alpha, and the verdict after the audit's
 * multiple-looks rule (`confirmations` consecutive rejections; config/auditSpec.ts nextVerdict).
 */
export const AuditRow = z.object({
  corpus: z.string().min(1),
  audit: z.string().min(1),
  firingId: z.string().min(1),
  /** When the firing started (workflow time). */
  time: z.date(),
  /** model/source as the audit spec names the endpoint. */
  endpoint: z.string().min(1),
  /** The firing's slice: corpus model and source label. */
  model: z.string().min(1),
  source: z.string().min(1),
  reference: z.string().min(1),
  testId: z.string().min(1),
  statistic: z.string().min(1),
  value: z.number(),
  pValue: z.number().min(0).max(1),
  alpha: z.number().gt(0).lt(1),
  n1: z.number().int().positive(),
  n2: z.number().int().positive(),
  m: z.number().int().positive(),
  reject: z.boolean(),
  verdict: z.enum(['consistent', 'differs']),
  /** The verdict differs from this endpoint's previous firing's (an alert was sent). */
  changed: z.boolean(),
  confirmations: z.number().int().positive(),
  /** The firing's endpoint slice: token usage the provider reported (summed; null when it reported none). */
  promptTokens: z.number().int().nonnegative().nullable(),
  completionTokens: z.number().int().nonnegative().nullable(),
  /**
   * The billing check (audit spec `billing`): the claimed model's tokenizer count of the completions
   * whose tokens the endpoint reported, billed over counted, and the spec's maxRatio then. null
   * without a billing check, where nothing was reported, and in shards written before these columns.
   */
  countedCompletionTokens: z.number().int().nonnegative().nullable().optional(),
  billingRatio: z.number().nonnegative().nullable().optional(),
  billingMaxRatio: z.number().nullable().optional(),
  /** Requests the firing sent the endpoint (its slice's, or its tracking probes'); null in shards written before this column. */
  requests: z.number().int().nonnegative().nullable().optional(),
  /**
   * The tracking tier (statistic logprob_tracking): this firing's probes and their top-k logprobs
   * as JSON (activities/tracking.ts TrackingRecord), read back as the endpoint's baseline by later firings.
   */
  tracking: z.string().nullable().optional(),
  /**
   * Attribution (audit spec `identify`), on the firing where the endpoint's verdict turned to
   * differs: the identify result over the candidates as JSON (config/auditSpec.ts FiringIdentify).
   */
  identify: z.string().nullable().optional(),
});
export type AuditRow = z.infer<typeof AuditRow>;
