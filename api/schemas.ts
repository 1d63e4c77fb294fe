import { z } from 'zod';

/**
 * Response bodies of met's HTTP API (request bodies are the same zod schemas the CLI and the
 * workflows use: PerplexityRequest, RunSpec, TestSpec, ConsistencySpec). The OpenAPI document at
 * /docs is generated from these.
 */
export const ErrorBody = z.object({
  error: z.string().describe('a stable kind: bad_request, unauthorized, not_found, unavailable, failed, timeout'),
  message: z.string().describe('what went wrong and what to fix'),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export const QueueHealth = z.object({
  name: z.string(),
  kind: z.enum(['workflow', 'activity']),
  pollers: z.number().int(),
  /** Identities of the workers polling (host and pid). */
  workers: z.array(z.string()),
});

export const HealthBody = z.object({
  ok: z.boolean(),
  temporal: z.object({ reachable: z.boolean(), address: z.string(), namespace: z.string(), error: z.string().optional() }),
  queues: z.array(QueueHealth),
});

const ModelPerplexity = z.object({ model: z.string(), precision: z.string(), perplexity: z.number(), logPerplexity: z.number(), tokens: z.number().int() });
export const PerplexityBody = z.object({
  perByte: z.boolean().describe('true: log-perplexities are nats per UTF-8 byte (comparable across tokenizers)'),
  models: z.array(z.string()),
  texts: z.array(
    z.object({
      index: z.number().int(),
      perplexity: z.number().describe('exp of the mean over models of log-perplexity'),
      logPerplexity: z.number(),
      bytes: z.number().int(),
      perModel: z.array(ModelPerplexity),
    }),
  ),
  workflowId: z.string(),
});

export const RunStartedBody = z.object({
  runId: z.string(),
  job: z.string(),
  workflowId: z.string(),
  attached: z.boolean().describe('true when the same spec was already running: this request attached to it'),
  statusUrl: z.string(),
});

export const RunStateBody = z.object({
  runId: z.string(),
  job: z.string(),
  workflowId: z.string(),
  corpus: z.string().optional(),
  status: z.string().describe('RUNNING, COMPLETED, FAILED, ... as Temporal reports it'),
  startTime: z.string().optional(),
  closeTime: z.string().optional(),
  progress: z
    .array(z.object({ name: z.string(), done: z.number(), total: z.number(), unit: z.string().optional() }))
    .describe('one entry per stage (per source for a collection)'),
  result: z.unknown().optional(),
  failure: z.string().optional().describe('a failed run: its root cause, "Type: message"'),
  warnings: z.array(z.string()).default([]).describe('what a running run waits for in vain, e.g. a queue no worker polls'),
});

export const TestOutcomeBody = z.object({
  testId: z.string(),
  statistic: z.string(),
  value: z.number(),
  pvalue: z.number(),
  reject: z.boolean(),
  alpha: z.number(),
  b: z.number().int(),
  undefinedNulls: z.number().int().optional().describe('null statistics with a zero denominator (never counted as >= the observed one)'),
  n1: z.number().int(),
  n2: z.number().int(),
  m: z.number().int(),
  seconds: z.number(),
  /** stat rut only: prompts (API completions), reference completions per prompt, score function, scorer. */
  rut: z.object({ n: z.number().int(), k: z.number().int(), score: z.string(), scorer: z.string() }).optional(),
  verdict: z.enum(['differs', 'consistent']).describe("met's verdict word: differs (the test rejects at alpha) or consistent"),
  p: z.string().describe('the p-value as met prints it everywhere: "p = 0.0123", or "p < 0.001 (b = 1000)" when no null statistic reached the observed one'),
});
