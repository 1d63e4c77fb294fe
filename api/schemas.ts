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
  ownLogprobs: z
    .object({ completions: z.number().int(), tokens: z.number().int(), meanAbs: z.number(), maxAbs: z.number(), lengthMismatches: z.number().int() })
    .optional()
    .describe(
      "one-sample tests where Y's rows carry the endpoint's own token logprobs: mean and largest |own - scorer's| per token (nats), beside the verdict",
    ),
  verdict: z.enum(['differs', 'consistent']).describe("met's verdict word: differs (the test rejects at alpha) or consistent"),
  p: z.string().describe('the p-value as met prints it everywhere: "p = 0.0123", or "p < 0.001 (b = 1000)" when no null statistic reached the observed one'),
});

/** POST /v1/identify: the same rows as `met identify --json`. */
export const IdentifyBody = z.object({
  y: z.string().describe("the endpoint's slice, corpus:model/source"),
  stat: z.string(),
  alpha: z.number().describe('family-wise level over the candidates'),
  correction: z.literal('holm'),
  candidates: z.array(
    z.object({
      candidate: z.string().describe('model/source'),
      statistic: z.string(),
      value: z.number(),
      pvalue: z.number().describe("the candidate's own test"),
      adjusted: z.number().describe('Holm-adjusted over the candidates: what rejected reads'),
      b: z.number().int(),
      undefinedNulls: z.number().int().describe('null statistics with a zero denominator (never counted as >= the observed one)'),
      rejected: z.boolean(),
      testId: z.string().describe('the runTest run of this candidate (GET /v1/runs/{testId}, its report)'),
    }),
  ),
  notRejected: z.array(z.string()).describe('candidates the data cannot tell apart from the endpoint, the most plausible (largest adjusted p) first'),
});

// The web console's routes (api/console.ts): the same data as met audit show, met runs and met fleet.

const Verdict = z.enum(['consistent', 'differs']);

export const AuditBody = z.object({
  name: z.string(),
  corpus: z.string(),
  paused: z.boolean(),
  note: z.string().optional(),
  schedule: z.string().describe('"every 1h" or "cron 0 * * * * (UTC)"'),
  statistic: z.string(),
  alpha: z.number(),
  confirmations: z.number().int(),
  b: z.number().int().describe('permutations per test'),
  pFloor: z.number().describe('the smallest p-value b permutations resolve: a p-value of 0 reads "p < pFloor"'),
  running: z.number().int().describe('firings running now'),
  nextFiring: z.string().nullable().describe('null while paused'),
  lastFiring: z.string().nullable(),
  endpoints: z.array(
    z.object({
      endpoint: z.string().describe('model/source as the audit spec names it'),
      provider: z.string(),
      verdict: Verdict.nullable().describe('the verdict after the last firing; null before the first'),
      pValue: z.number().nullable(),
      lastFiring: z.string().nullable(),
      firings: z.number().int(),
      changes: z.number().int(),
    }),
  ),
  firings: z
    .array(
      z.object({
        firingId: z.string(),
        time: z.string(),
        endpoint: z.string(),
        pValue: z.number(),
        value: z.number(),
        reject: z.boolean(),
        verdict: Verdict,
        changed: z.boolean().describe('the verdict changed at this firing'),
        n: z.number().int(),
        requests: z
          .number()
          .int()
          .nullable()
          .describe("requests the firing sent the endpoint (its slice's, or a logprob_tracking firing's probes); null in rows recorded before this"),
        promptTokens: z.number().int().nullable(),
        completionTokens: z.number().int().nullable(),
        countedCompletionTokens: z
          .number()
          .int()
          .nullable()
          .describe("the billing check: the claimed model's tokenizer count of the completions whose tokens the endpoint reported; null without one"),
        billingRatio: z.number().nullable().describe('completion tokens billed over counted; null without a billing check or where nothing was reported'),
        billingMaxRatio: z.number().nullable().describe("the audit spec's billing.maxRatio: a ratio above it alerts"),
        costUsd: z.number().nullable().describe("tokens at the provider's prices (the worker config given to met api --config); null when either is unknown"),
        identify: IdentifyBody.extend({
          error: z.string().optional().describe("why the candidates' tests failed (candidates is then empty)"),
        })
          .nullable()
          .describe(
            "the audit spec's identify, at the firing that turned the verdict to differs: the endpoint's fresh slice against each candidate slice, Holm-corrected (as POST /v1/identify); null at other firings",
          ),
      }),
    )
    .describe('oldest first, the last 500'),
});

export const AuditsBody = z.object({ audits: z.array(AuditBody) });

export const AuditActionBody = z.object({ name: z.string(), action: z.enum(['pause', 'resume', 'trigger']), paused: z.boolean() });

/** What POST /v1/runs/{id}/cancel did: the run's status afterwards, and whether it had to be terminated (and why). */
export const CancelBody = z.object({
  runId: z.string(),
  cancelRequested: z.boolean(),
  status: z.string(),
  terminated: z.boolean(),
  reason: z.string().optional(),
});

export const RunSummaryBody = z.object({
  runId: z.string(),
  job: z.string(),
  corpus: z.string().optional(),
  status: z.string(),
  createdAt: z.string(),
  startTime: z.string().optional(),
  closeTime: z.string().optional(),
  stages: z.array(z.object({ name: z.string(), done: z.number(), total: z.number(), unit: z.string().optional() })),
  done: z.number().describe('over all stages'),
  total: z.number(),
  unit: z.string().optional().describe("the stages' unit when they share one"),
  ratePerSecond: z.number().nullable().describe("a running run: units per second (a collection's own measure; others: done over time since start)"),
  etaSeconds: z.number().nullable(),
  failure: z.string().optional(),
  warnings: z.array(z.string()),
  reportUrl: z.string().nullable().describe('a completed power grid or consistency run: its HTML report'),
});

export const RunsBody = z.object({ runs: z.array(RunSummaryBody).describe('newest first') });

export const FleetBody = z.object({
  queues: z.array(
    z.object({
      queue: z.string(),
      kind: z.enum(['workflow', 'activity']),
      pollers: z.array(
        z.object({
          identity: z.string(),
          host: z.string().optional(),
          pid: z.number().int().optional(),
          version: z.string().optional(),
          model: z.string().optional(),
          gpu: z.string().optional(),
          data: z.string().optional(),
          lastPollSecondsAgo: z.number().optional(),
        }),
      ),
      neededBy: z.array(z.string()).describe('running runs and active audits that send work here'),
      missing: z.boolean().describe('work is or will be waiting here and no worker polls it'),
    }),
  ),
});
