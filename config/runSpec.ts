import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { canonicalJson, hashHex } from '../common/hash';
import { formatIssues } from '../common/issues';
import { Name } from '../common/names';
import { escapeControls, promptProblem } from '../common/text';
import { RUN_LIMITS } from './limits';

/**
 * A collection run spec (YAML or JSON): what to sample, from which sources, how. It never carries
 * API keys: a source names the environment variable the worker reads (`apiKeyEnv`).
 * Pure (no Node built-ins): workflows import it. Files are read by config/load.ts.
 */
/** Only http(s): a file:// or other scheme can never work and would be retried in vain. */
const HttpURL = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });
const EnvVarName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as MY_PROVIDER_API_KEY');

/** Request fields met sets itself: extraBody may not override them (the record would lie). */
export const RESERVED_BODY_FIELDS = [
  'model',
  'prompt',
  'messages',
  'n',
  'stream',
  'stream_options',
  'logprobs',
  'top_logprobs',
  'echo',
  'seed',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'temperature',
  'top_p',
  'top_k',
  'min_p',
  'repetition_penalty',
  'presence_penalty',
  'frequency_penalty',
];
const ExtraBody = z
  .record(z.string(), z.json())
  .refine((body) => JSON.stringify(body).length <= 16_384, { message: 'extraBody is larger than 16 KiB' })
  .superRefine((body, ctx) => {
    for (const key of Object.keys(body)) {
      if (RESERVED_BODY_FIELDS.includes(key)) {
        ctx.addIssue({ code: 'custom', path: [key], message: `extraBody cannot set "${key}": met sets it (use the sampling section for sampler settings)` });
      }
    }
  });

const keyHint =
  'API keys never go in a run spec (they would end up in workflow history): set apiKeyEnv to the NAME of an environment variable on the provider worker';

export const ProviderSource = z
  .object({
    kind: z.literal('provider'),
    /** A provider from the registry (openai, together, ...) or a custom name with baseURL. */
    provider: Name,
    /** met's name of the model (e.g. llama-3.1-8b); the partition key in the corpus. */
    model: Name,
    /** The model name at this provider, when it differs from the registry's mapping. */
    providerModel: z.string().min(1).optional(),
    /** The source label in the corpus (default: the provider name). */
    source: Name.optional(),
    baseURL: HttpURL.optional(),
    apiKeyEnv: EnvVarName.optional(),
    /** Requests in flight at once within one work unit. */
    concurrency: z.number().int().positive().max(1024).default(16),
    /**
     * Completions per request (OpenAI's `n`): a prompt's samples go n at a time, so the prompt is
     * billed once per n samples and n times fewer requests count against rate limits. An endpoint
     * that refuses n > 1 (a 400 naming `n`) is sent n = 1 from then on (remembered per source by
     * the worker). Optional without a default: specs written before it keep their run id.
     */
    n: z.number().int().min(1).max(128).optional(),
    /**
     * Collect through the provider's Batch API (OpenAI's /v1/files + /v1/batches) instead of one
     * request at a time: each work unit is one batch (workflow batchUnit: upload, poll with durable
     * timers, download, journal), and what a batch did not answer is sampled online. Optional.
     */
    batch: z
      .object({
        /** Seconds before the first status poll; each later wait is 1.5 times the last, up to maxPollSeconds. */
        pollSeconds: z.number().min(0.1).max(3600).default(30),
        maxPollSeconds: z.number().min(1).max(86_400).default(600),
      })
      .strict()
      .optional(),
    requestsPerMinute: z.number().positive().optional(),
    tokensPerMinute: z.number().positive().optional(),
    /**
     * Extra request fields passed to this provider unchanged (e.g. vLLM's `top_k`, llama.cpp's
     * `mirostat`), recorded with every sample. They cannot replace what met sets itself.
     */
    extraBody: ExtraBody.optional(),
    apiKey: z.never({ error: keyHint }).optional(),
    key: z.never({ error: keyHint }).optional(),
  })
  .strict();

export const LocalSource = z
  .object({
    kind: z.literal('local'),
    model: Name,
    precision: z.enum(['fp32', 'fp16', 'int8', 'nf4']),
    /** The source label in the corpus (default: the precision). */
    source: Name.optional(),
  })
  .strict();

export const SourceSpec = z.discriminatedUnion('kind', [ProviderSource, LocalSource]);
export type SourceSpec = z.infer<typeof SourceSpec>;

export const SamplingSpec = z
  .object({
    temperature: z.number().min(0).max(2).default(1),
    topP: z.number().gt(0).max(1).default(1),
    /*
     * Optional sampler settings, absent = off (no defaults, so specs written before them keep their
     * run id). Local sources apply them as llama.cpp's server does (its sampler chain and order);
     * providers get them as request fields (top_k, min_p and repetition_penalty are vLLM/llama.cpp
     * extensions, presence/frequency_penalty are OpenAI's).
     */
    topK: z.number().int().min(0).max(1_000_000).optional(),
    minP: z.number().min(0).max(1).optional(),
    repetitionPenalty: z.number().gt(0).max(10).optional(),
    presencePenalty: z.number().min(-2).max(2).optional(),
    frequencyPenalty: z.number().min(-2).max(2).optional(),
    maxTokens: z.number().int().positive().max(32768).default(64),
    stop: z.array(z.string().max(1000)).max(4).default([]),
    endpoint: z.enum(['completions', 'chat']).default('completions'),
    systemPrompt: z.string().max(100_000, 'a system prompt has at most 100,000 characters').optional(),
    /** Ask for the sampled tokens' logprobs where the source supports it. */
    logprobs: z.boolean().default(false),
    /**
     * 'per-sample': a seed derived from (seed, model, source, prompt, sample index);
     * 'shared': the same seed for every source (no source in the derivation), so two sources that
     * serve the same weights with the same sampler return identical completions (consistency checks);
     * 'none': no seed sent.
     */
    seedPolicy: z.enum(['per-sample', 'shared', 'none']).default('per-sample'),
    seed: z.number().int().nonnegative().default(0),
  })
  .strict();
export type SamplingSpec = z.infer<typeof SamplingSpec>;

export const PromptSource = z.union([
  z.object({ set: Name, limit: z.number().int().positive().max(RUN_LIMITS.prompts).optional() }).strict(),
  z.object({ file: z.string().min(1).max(4096), limit: z.number().int().positive().max(RUN_LIMITS.prompts).optional() }).strict(),
  /** Prompts given in the spec itself (what the HTTP API takes besides set names); they are recorded in the workflow's input, so keep them small. */
  z
    .object({
      inline: z
        .array(z.object({ id: z.string().min(1).max(200), text: z.string().min(1, 'a prompt needs non-empty text').max(200_000) }).strict())
        .min(1, 'give at least one prompt')
        .max(10_000)
        .superRefine((prompts, ctx) => {
          const seen = new Set<string>();
          prompts.forEach((p, i) => {
            if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate prompt id '${escapeControls(p.id, true)}'` });
            seen.add(p.id);
            const problem = promptProblem(p.id, p.text);
            if (problem) ctx.addIssue({ code: 'custom', path: [i], message: problem });
          });
        }),
      /** The prompt set's name in the corpus (default 'inline'). */
      name: Name.optional(),
      limit: z.number().int().positive().max(RUN_LIMITS.prompts).optional(),
    })
    .strict(),
]);

/**
 * A spending cap in USD, priced with the provider worker's `prices` (config/workers.ts). The run
 * never starts a work unit whose worst-case cost could take its spend past it, and ends
 * "budget reached" (resumable) instead. Not part of the run id: raising it continues the same run.
 */
export const Budget = z.object({ usd: z.number().positive().max(10_000_000) }).strict();
export type Budget = z.infer<typeof Budget>;

export const RunSpec = z
  .object({
    corpus: Name,
    /** Default: a hash of the rest of the spec, so launching the same spec twice attaches to one run. */
    runId: Name.optional(),
    prompts: PromptSource,
    samplesPerPrompt: z.number().int().positive().max(1_000_000, 'samplesPerPrompt is at most 1,000,000'),
    sampling: SamplingSpec.default(SamplingSpec.parse({})),
    sources: z
      .array(SourceSpec)
      .min(1, 'list at least one source')
      .max(RUN_LIMITS.sources, `a run has at most ${RUN_LIMITS.sources} sources (split it into several runs)`),
    /** Samples per work unit (one activity, one Parquet shard). */
    unitSize: z.number().int().min(1).max(100_000, 'unitSize is at most 100,000').default(500),
    /** Work units in flight at once per source. */
    window: z.number().int().min(1).max(256, 'window is at most 256').default(4),
    /**
     * Seconds a unit may go without a heartbeat before it is retried on another worker (default 60).
     * A killed worker's units wait this long: shorter recovers faster, longer tolerates stalled hosts.
     * Optional without a default so that specs written before it keep their run id.
     */
    heartbeatTimeoutSeconds: z.number().min(1).max(3600).optional(),
    /**
     * Fail the run when no worker takes a unit from its source's queue within this many seconds (a
     * provider or model no worker serves). Unset: wait for one; met status and the API still say at
     * once that nobody polls the queue.
     */
    noWorkerTimeoutSeconds: z.number().min(1).max(86_400).optional(),
    /** Optional without a default so that specs written before it keep their run id (and it is left out of the id). */
    budget: Budget.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    spec.sources.forEach((s, i) => {
      if (s.kind === 'provider' && s.batch && spec.unitSize > 50_000) {
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i, 'batch'],
          message: `a unit is one batch, and a batch holds at most 50,000 requests: lower unitSize (${spec.unitSize}) to 50000 or less`,
        });
      }
    });
    const seen = new Set<string>();
    spec.sources.forEach((s, i) => {
      const key = `${s.model}/${sourceLabel(s)}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['sources', i], message: `duplicate source ${key}: give one of them a distinct 'source' label` });
      seen.add(key);
    });
    const prompts = promptCountBound(spec.prompts);
    const problem = prompts === undefined ? undefined : runSizeProblem(spec, prompts.count, prompts.what);
    if (problem) ctx.addIssue({ code: 'custom', path: ['samplesPerPrompt'], message: problem });
  });
export type RunSpec = z.infer<typeof RunSpec>;

/** What a spec says of its prompt count before the prompts are read: inline prompts, or a limit (an upper bound). */
export function promptCountBound(prompts: z.infer<typeof PromptSource>): { count: number; what: string } | undefined {
  if ('inline' in prompts) {
    const count = Math.min(prompts.inline.length, prompts.limit ?? Infinity);
    return { count, what: `${count.toLocaleString('en-US')} inline prompts` };
  }
  return prompts.limit === undefined ? undefined : { count: prompts.limit, what: `prompts.limit ${prompts.limit.toLocaleString('en-US')}` };
}

/**
 * Why a run of `promptCount` prompts is too large for one run (RUN_LIMITS), with the numbers, or
 * undefined. Counts are the most a run can draw (a slice that holds samples already draws fewer).
 */
export function runSizeProblem(
  spec: Pick<RunSpec, 'samplesPerPrompt' | 'unitSize' | 'sources'>,
  promptCount: number,
  promptWhat = `${promptCount.toLocaleString('en-US')} prompts`,
): string | undefined {
  const n = (x: number) => x.toLocaleString('en-US');
  if (promptCount > RUN_LIMITS.prompts) return `${promptWhat}: a run reads at most ${n(RUN_LIMITS.prompts)} prompts`;
  const perSource = promptCount * spec.samplesPerPrompt;
  const sources = spec.sources.length;
  const fix = 'lower samplesPerPrompt or the prompts, or split the run';
  if (perSource > RUN_LIMITS.samplesPerSource) {
    return `${promptWhat} x samplesPerPrompt ${n(spec.samplesPerPrompt)} = ${n(perSource)} samples per source: a run draws at most ${n(RUN_LIMITS.samplesPerSource)} per source (${fix})`;
  }
  if (perSource * sources > RUN_LIMITS.samples) {
    return `${n(perSource)} samples per source x ${sources} sources = ${n(perSource * sources)} samples: a run draws at most ${n(RUN_LIMITS.samples)} (${fix})`;
  }
  const units = Math.ceil(perSource / spec.unitSize) * sources;
  if (units > RUN_LIMITS.units) {
    return `${n(perSource)} samples per source in units of ${n(spec.unitSize)} x ${sources} sources = ${n(units)} work units: a run has at most ${n(RUN_LIMITS.units)} (raise unitSize to ${n(Math.ceil((perSource * sources) / RUN_LIMITS.units))} or more, or split the run)`;
  }
  return undefined;
}
export type RunSpecInput = z.input<typeof RunSpec>;

export function sourceLabel(source: SourceSpec): string {
  return source.source ?? (source.kind === 'provider' ? source.provider : source.precision);
}

/** The run id: explicit, or derived from the spec's content (the budget left out: raising it continues the same run). */
export function runIdOf(spec: RunSpec): string {
  if (spec.runId) return spec.runId;
  const { runId: _ignored, budget: _budget, ...rest } = spec;
  return `${spec.corpus}-${hashHex(canonicalJson(rest)).slice(0, 10)}`;
}

/** "WHERE is not a valid run spec:" and one line per problem (`what` names other kinds of spec). */
export function formatZodIssues(error: z.ZodError, where: string, what = 'run spec'): string {
  return formatIssues(error, `${where} is not a valid ${what}`);
}

export function parseRunSpec(value: unknown, where = 'the run spec'): RunSpec {
  const result = RunSpec.safeParse(value);
  if (!result.success) throw new MetError(ErrorTypes.BadRunSpec, formatZodIssues(result.error, where));
  return result.data;
}
