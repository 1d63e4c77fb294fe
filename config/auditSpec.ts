import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { Name } from '../common/names';
import {
  Budget,
  formatZodIssues,
  parseRunSpec,
  promptCountBound,
  PromptSource,
  ProviderSource,
  type RunSpec,
  runSizeProblem,
  SamplingSpec,
  sourceLabel,
} from './runSpec';
import { IdentifyCandidates, IdentifyResult, IdentifySpec, identifyTests } from './identifySpec';
import { isOneSampleTestStatistic, ONE_SAMPLE_TEST_STATISTICS, Selector, TestSpec } from './testSpec';
import { boundedInt, LIMITS, RUN_LIMITS, TRACKING_LIMITS } from './limits';

/**
 * An audit (`met audit create SPEC`): a Temporal Schedule whose every firing (workflow
 * auditFiring) samples a fresh slice from each endpoint, tests it against a reference and appends
 * one row per endpoint to the audit corpus's `audits` table. Pure (zod only): workflows import it.
 * Endpoints are provider sources: where they point and which key they get is the provider
 * worker's config, never the spec's. Where alerts go is the CPU worker's config (`alerts.webhookURL`).
 */

/** A stored reference slice (`corpus:model/source`) or a local model+precision sampled at every firing. */
export const AuditReference = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('corpus'), corpus: Name, model: Name, source: Name, samplesPerPrompt: Selector.shape.samplesPerPrompt }).strict(),
  z.object({ kind: z.literal('local'), model: Name, precision: z.enum(['fp32', 'fp16', 'int8', 'nf4']) }).strict(),
]);
export type AuditReference = z.infer<typeof AuditReference>;

/** `5s`, `10m`, `1h`, `1d`: a Temporal duration string. */
const Interval = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'an interval such as 30s, 10m, 1h or 1d');

/** The shortest interval an audit takes without `allowShortInterval`. */
export const MIN_AUDIT_INTERVAL_MS = 60_000;
/** The shortest interval at all: `allowShortInterval` (a spec, perhaps from the HTTP API) lowers the bound, never removes it. */
export const FLOOR_AUDIT_INTERVAL_MS = 1000;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** An Interval's length in milliseconds (undefined for a string that is not one). */
export function intervalMs(interval: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(interval);
  return match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : undefined;
}

export const AuditSchedule = z.union([
  z.object({ interval: Interval }).strict(),
  /** A cron expression in UTC (five fields), e.g. "0 * * * *" for every hour. */
  z.object({ cron: z.string().min(9).max(200) }).strict(),
]);
export type AuditSchedule = z.infer<typeof AuditSchedule>;

export const TWO_SAMPLE_STATISTICS = [
  'mmd_hamming',
  'mmd_kspectrum',
  'mmd_all_subsequences',
  'two_sample_L1',
  'two_sample_L2',
  'two_sample_chi_squared',
] as const;

/** The statistic of the log-probability tracking tier: each endpoint against its own first firings. */
export const TRACKING_STATISTIC = 'logprob_tracking' as const;

/**
 * The log-probability tracking tier (Chauvin et al., ICLR 2026): at each firing every endpoint is
 * asked for ONE token at temperature 0 with its top-k logprobs on each probe (the spec's prompts,
 * at most `probes` of them, drawn with the spec's seed), and the firing's logprobs are tested
 * against the endpoint's own first `baselineFirings` firings (a permutation test, stats/tracking.ts).
 */
export const TrackingSpec = z
  .object({
    /** How many of the spec's prompts are probes (a seeded draw when the prompts hold more; all of them by default). */
    probes: boundedInt(TRACKING_LIMITS.probes, 'tracking.probes').default(32),
    /** Top-k logprobs asked per probe. */
    topK: boundedInt(TRACKING_LIMITS.topK, 'tracking.topK').default(5),
    /** An endpoint's first firings, its own baseline: no verdict is drawn from them. */
    baselineFirings: boundedInt(TRACKING_LIMITS.baselineFirings, 'tracking.baselineFirings').default(2),
  })
  .strict();
export type TrackingSpec = z.infer<typeof TrackingSpec>;

const AuditSpecShape = z
  .object({
    /** The audit's name: the schedule is `audit-<name>`. */
    name: Name,
    /** Where each firing's samples and the `audits` rows go. */
    corpus: Name,
    /** What each endpoint is tested against; not with logprob_tracking (each endpoint is its own baseline). */
    reference: AuditReference.optional(),
    endpoints: z
      .array(ProviderSource)
      .min(1, 'list at least one endpoint (a provider source)')
      .max(RUN_LIMITS.sources, `an audit has at most ${RUN_LIMITS.sources} endpoints (split it into several audits)`),
    prompts: PromptSource,
    /** Samples per prompt of each firing's slices (sample-based statistics; not with logprob_tracking). */
    samplesPerPrompt: z.number().int().positive().max(100_000, 'samplesPerPrompt is at most 100,000').optional(),
    sampling: SamplingSpec.default(SamplingSpec.parse({})),
    /**
     * A two-sample statistic, or one of MET's one-sample statistics (g_squared, ...): each firing then
     * scores the fresh slices under `scorer` before testing them (a stored reference must be scored already).
     */
    statistic: z.enum([...TWO_SAMPLE_STATISTICS, ...ONE_SAMPLE_TEST_STATISTICS, TRACKING_STATISTIC]).default('mmd_hamming'),
    /** logprob_tracking only: the probe set and the baseline (defaults: 32 probes, top 5, 2 baseline firings). */
    tracking: TrackingSpec.optional(),
    /** One-sample statistics only: the reference model+precision whose probabilities the endpoints are tested against. */
    scorer: z
      .object({ model: Name, precision: z.enum(['fp32', 'fp16', 'int8', 'nf4']) })
      .strict()
      .optional(),
    /**
     * The billing check: per endpoint and firing, the completion tokens the endpoint billed
     * (`usage`) over what the claimed model's own tokenizer counts in the same completions (a model
     * worker of `tokenizer`, by default the local reference). Above maxRatio, an alert.
     */
    billing: z
      .object({
        tokenizer: z
          .object({ model: Name, precision: z.enum(['fp32', 'fp16', 'int8', 'nf4']) })
          .strict()
          .optional(),
        maxRatio: z.number().gt(1).max(10).default(1.05),
      })
      .strict()
      .optional(),
    /**
     * Attribution: when an endpoint's verdict turns to differs, the firing tests its fresh slice
     * against each candidate slice (MODEL/SOURCE stored in the audit's corpus) with the audit's
     * statistic, Holm-corrected at alpha over the candidates, as `met identify` does. The result is
     * kept with the firing's row and sent with the alert.
     */
    identify: z.object({ candidates: IdentifyCandidates }).strict().optional(),
    alpha: z.number().gt(0).lt(1).default(0.05),
    /**
     * The multiple-looks rule: an endpoint's verdict turns to `differs` only after this many
     * consecutive firings reject at alpha (and back to `consistent` after as many that do not).
     * Under the null each firing rejects with probability alpha on fresh samples, so a false
     * alarm needs about alpha^confirmations per firing instead of alpha (see docs/audits.md).
     */
    confirmations: z.number().int().min(1).max(10).default(2),
    b: boundedInt(LIMITS.b, 'b').default(1000),
    L: boundedInt(LIMITS.L, 'L').default(1000),
    seed: z.number().int().nonnegative().default(0),
    schedule: AuditSchedule,
    unitSize: z.number().int().min(1).max(100_000).default(500),
    window: z.number().int().min(1).max(256).default(4),
    /**
     * A cap per firing in USD, split evenly over the endpoints (each endpoint's slice is a run with
     * budget usd / endpoints). An endpoint whose slice reaches its share is not tested at that
     * firing (a partial slice would test fewer samples than the spec says) and the firing says so.
     */
    budget: Budget.optional(),
    /**
     * Firings more often than once a minute are refused unless this is set: a typo ('1s' for '1h')
     * would otherwise sample every endpoint many times a minute, at the provider's prices.
     */
    allowShortInterval: z.boolean().optional(),
  })
  .strict();

export const AuditSpec = AuditSpecShape.superRefine((spec, ctx) => {
  const every = 'interval' in spec.schedule ? intervalMs(spec.schedule.interval) : undefined;
  if (every !== undefined && every < FLOOR_AUDIT_INTERVAL_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['schedule', 'interval'],
      message: `an audit fires at most once a second: use an interval of 1s or more (1m or more without allowShortInterval)`,
    });
  } else if (every !== undefined && every < MIN_AUDIT_INTERVAL_MS && !spec.allowShortInterval) {
    ctx.addIssue({
      code: 'custom',
      path: ['schedule', 'interval'],
      message: `'${(spec.schedule as { interval: string }).interval}' fires more often than once a minute, and every firing samples every endpoint: use an interval of 1m or more (e.g. 1h), or set allowShortInterval: true if you mean it`,
    });
  }
  if (spec.statistic === TRACKING_STATISTIC) {
    trackingProblems(spec).forEach(([path, message]) => ctx.addIssue({ code: 'custom', path, message }));
    return;
  }
  if (spec.tracking)
    ctx.addIssue({ code: 'custom', path: ['tracking'], message: `tracking applies to statistic ${TRACKING_STATISTIC} only, not ${spec.statistic}` });
  if (!spec.reference)
    ctx.addIssue({
      code: 'custom',
      path: ['reference'],
      message: `${spec.statistic} tests each endpoint against a reference: give reference (a stored slice or a local model), or use statistic ${TRACKING_STATISTIC}`,
    });
  if (spec.samplesPerPrompt === undefined)
    ctx.addIssue({ code: 'custom', path: ['samplesPerPrompt'], message: `${spec.statistic} samples each endpoint at every firing: give samplesPerPrompt` });
  const oneSample = isOneSampleTestStatistic(spec.statistic);
  if (oneSample && !spec.scorer)
    ctx.addIssue({
      code: 'custom',
      path: ['scorer'],
      message: `${spec.statistic} tests each endpoint against the reference model's own probabilities: give scorer {model, precision} (a model worker scores every firing's slices under it)`,
    });
  if (!oneSample && spec.scorer)
    ctx.addIssue({
      code: 'custom',
      path: ['scorer'],
      message: `scorer applies to the one-sample statistics only (${ONE_SAMPLE_TEST_STATISTICS.join(', ')}), not ${spec.statistic}`,
    });
  if (spec.billing && !billingTokenizer(spec))
    ctx.addIssue({
      code: 'custom',
      path: ['billing', 'tokenizer'],
      message: 'the billing check counts tokens with the claimed model: give billing.tokenizer {model, precision} (a stored reference has no model worker)',
    });
  // Each firing samples every endpoint (and a local reference) in one run of this size.
  const prompts = promptCountBound(spec.prompts);
  const sources = [...spec.endpoints, ...(spec.reference?.kind === 'local' ? [spec.reference] : [])];
  const problem =
    prompts === undefined || spec.samplesPerPrompt === undefined
      ? undefined
      : runSizeProblem({ samplesPerPrompt: spec.samplesPerPrompt, unitSize: spec.unitSize, sources }, prompts.count, prompts.what);
  if (problem) ctx.addIssue({ code: 'custom', path: ['samplesPerPrompt'], message: `a firing: ${problem}` });
});
export type AuditSpec = z.infer<typeof AuditSpec>;
export type AuditSpecInput = z.input<typeof AuditSpec>;

/** Why a logprob_tracking spec is refused: each [path, message]. */
function trackingProblems(spec: z.infer<typeof AuditSpecShape>): [string[], string][] {
  const out: [string[], string][] = [];
  const why = `${TRACKING_STATISTIC} compares each endpoint with its own first firings`;
  if (spec.reference) out.push([['reference'], `${why}: it takes no reference (leave it out)`]);
  if (spec.samplesPerPrompt !== undefined)
    out.push([['samplesPerPrompt'], `${why} on one token per probe: it takes no samplesPerPrompt (tracking.probes sets the probe count)`]);
  if (spec.scorer)
    out.push([['scorer'], `scorer applies to the one-sample statistics only (${ONE_SAMPLE_TEST_STATISTICS.join(', ')}), not ${TRACKING_STATISTIC}`]);
  if (spec.billing)
    out.push([
      ['billing'],
      `the billing check counts a sample-based audit's completions; ${TRACKING_STATISTIC} generates one token per probe (audit billing with a sample-based statistic)`,
    ]);
  if (spec.identify)
    out.push([
      ['identify'],
      `identify tests an endpoint's slice against candidate slices; ${TRACKING_STATISTIC} samples none (audit with a sample-based statistic to identify)`,
    ]);
  if (spec.budget)
    out.push([['budget'], `${TRACKING_STATISTIC} sends one short request per probe and endpoint: it takes no budget (tracking.probes bounds its cost)`]);
  if ('inline' in spec.prompts)
    spec.prompts.inline.forEach((p, i) => {
      if (p.text.length > TRACKING_LIMITS.probeChars)
        out.push([
          ['prompts', 'inline', String(i)],
          `a probe has at most ${TRACKING_LIMITS.probeChars} characters (short inputs): '${p.id}' has ${p.text.length}`,
        ]);
    });
  return out;
}

export function parseAuditSpec(value: unknown, where = 'the audit spec'): AuditSpec {
  const result = AuditSpec.safeParse(value);
  if (!result.success) throw new MetError(ErrorTypes.BadRunSpec, formatZodIssues(result.error, where, 'audit spec'));
  return result.data;
}

/** The model whose tokenizer the billing check counts with: billing.tokenizer, else a local reference. */
export function billingTokenizer(spec: Pick<AuditSpec, 'billing' | 'reference'>): { model: string; precision: string } | undefined {
  if (!spec.billing) return undefined;
  if (spec.billing.tokenizer) return spec.billing.tokenizer;
  return spec.reference?.kind === 'local' ? { model: spec.reference.model, precision: spec.reference.precision } : undefined;
}

/** Whether an audit row's billing ratio is above its maxRatio; undefined where it has none. */
export function billingOver(r: { billingRatio?: number | null; billingMaxRatio?: number | null }): boolean | undefined {
  return r.billingRatio == null || r.billingMaxRatio == null ? undefined : r.billingRatio > r.billingMaxRatio;
}

export const auditScheduleId = (name: string) => `audit-${name}`;

/** The label an endpoint is known by in the `audits` table: model/source as a run spec names it. */
export function endpointLabel(endpoint: AuditSpec['endpoints'][number]): string {
  return `${endpoint.model}/${sourceLabel(endpoint)}`;
}

/**
 * A firing's stamp from its start time and run id: `20261130T105005Z-1a2b3c4d` (a valid name part).
 * 'tail' takes the run id's last 8 alphanumerics. Temporal's run ids are UUIDv7, whose first 8 hex
 * digits are the top of the millisecond clock (the same for about 65 s), so 'head' (firings before
 * the `firing-stamp-tail` patch) gave two firings started in the same second the same stamp and so
 * the same slice labels; the tail is random bits.
 */
export function firingStamp(startedAtMs: number, runId: string, part: 'head' | 'tail' = 'tail'): string {
  const t = new Date(startedAtMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const id = runId.replace(/[^A-Za-z0-9]/g, '');
  return `${t}-${part === 'tail' ? id.slice(-8) : id.slice(0, 8)}`;
}

/**
 * One collection run per endpoint (and one for a local reference): the endpoint's source under a
 * per-firing label `<source>.<stamp>`, so every firing's slice is fresh and its own.
 */
export interface FiringPlan {
  firingId: string;
  collections: { key: string; spec: RunSpec; runId: string }[];
  reference: Selector;
  tests: { endpoint: string; model: string; source: string; test: TestSpec }[];
}

export function planFiring(spec: AuditSpec, stamp: string): FiringPlan {
  const firingId = `${spec.name}.${stamp}`;
  if (!spec.reference || spec.samplesPerPrompt === undefined) throw new Error(`${spec.statistic} samples no slices: plan its firing with planTracking`);
  const base = {
    corpus: spec.corpus,
    prompts: spec.prompts,
    samplesPerPrompt: spec.samplesPerPrompt,
    sampling: spec.sampling,
    unitSize: spec.unitSize,
    window: spec.window,
  };
  const collections: FiringPlan['collections'] = [];
  let reference: Selector;
  if (spec.reference.kind === 'local') {
    const source = `${spec.reference.precision}.${stamp}`;
    const runId = `${firingId}.reference`;
    collections.push({
      key: 'reference',
      runId,
      spec: parseRunSpec({ ...base, runId, sources: [{ kind: 'local', model: spec.reference.model, precision: spec.reference.precision, source }] }),
    });
    reference = Selector.parse({ corpus: spec.corpus, model: spec.reference.model, source, seed: spec.seed });
  } else {
    const r = spec.reference;
    reference = Selector.parse({ corpus: r.corpus, model: r.model, source: r.source, samplesPerPrompt: r.samplesPerPrompt, seed: spec.seed });
  }
  const tests: FiringPlan['tests'] = spec.endpoints.map((endpoint, i) => {
    const source = `${sourceLabel(endpoint)}.${stamp}`;
    const runId = `${firingId}.e${i}`;
    const budget = spec.budget ? { budget: { usd: spec.budget.usd / spec.endpoints.length } } : {};
    collections.push({ key: `e${i}`, runId, spec: parseRunSpec({ ...base, ...budget, runId, sources: [{ ...endpoint, source }] }) });
    const test = TestSpec.parse({
      testId: runId,
      x: reference,
      y: { corpus: spec.corpus, model: endpoint.model, source, seed: spec.seed },
      stat: spec.statistic,
      // One-sample: both slices scored under the scorer (auditFiring scores the fresh ones); their p-value is always the bootstrap.
      ...(spec.scorer ? { scorer: spec.scorer, pvalue: 'bootstrap' } : {}),
      alpha: spec.alpha,
      b: spec.b,
      L: spec.L,
      seed: spec.seed,
    });
    return { endpoint: endpointLabel(endpoint), model: endpoint.model, source, test };
  });
  return { firingId, collections, reference, tests };
}

export type AuditVerdict = 'consistent' | 'differs';

/**
 * The verdict after one more firing. `history` holds the endpoint's earlier firings, oldest first
 * (each: did it reject at alpha, and the verdict then). An audit starts presumed consistent; the
 * verdict flips only after `confirmations` consecutive firings (this one included) that disagree with it.
 */
export function nextVerdict(history: { reject: boolean; verdict: AuditVerdict }[], reject: boolean, confirmations: number): AuditVerdict {
  const previous: AuditVerdict = history.at(-1)?.verdict ?? 'consistent';
  const disagrees = (r: boolean) => (previous === 'consistent' ? r : !r);
  if (!disagrees(reject)) return previous;
  let run = 1;
  for (let i = history.length - 1; i >= 0 && run < confirmations && disagrees(history[i].reject); i--) run++;
  if (run < confirmations) return previous;
  return previous === 'consistent' ? 'differs' : 'consistent';
}

/**
 * A tracking firing (statistic logprob_tracking): per endpoint, the probe request (one token at
 * temperature 0 with top-k logprobs per probe, on the endpoint's provider queue) and the row's
 * identity. The source label is `<source>.<stamp>` as for a sample-based firing's slice (no slice is written).
 */
export interface TrackingPlan {
  firingId: string;
  tracking: TrackingSpec;
  endpoints: { key: string; endpoint: string; model: string; source: string; testId: string; provider: AuditSpec['endpoints'][number] }[];
}

export function planTracking(spec: AuditSpec, stamp: string): TrackingPlan {
  const firingId = `${spec.name}.${stamp}`;
  return {
    firingId,
    tracking: spec.tracking ?? TrackingSpec.parse({}),
    endpoints: spec.endpoints.map((endpoint, i) => ({
      key: `e${i}`,
      endpoint: endpointLabel(endpoint),
      model: endpoint.model,
      source: `${sourceLabel(endpoint)}.${stamp}`,
      testId: `${firingId}.e${i}`,
      provider: endpoint,
    })),
  };
}

/**
 * What a firing found when an endpoint's verdict turned to differs (audit spec `identify`): the
 * identify result over the candidates, or why the candidates' tests failed (candidates then empty).
 * Stored as JSON in the row's `identify` column, sent in the verdict's alert.
 */
export const FiringIdentify = IdentifyResult.extend({ error: z.string().optional() });
export type FiringIdentify = z.infer<typeof FiringIdentify>;

/** An audit row's `identify` column read back (null where the firing ran none). */
export function readFiringIdentify(json: string | null | undefined): FiringIdentify | null {
  return json ? FiringIdentify.parse(JSON.parse(json)) : null;
}

/**
 * The identify of one endpoint's fresh slice at a firing (audit spec `identify`): the candidates'
 * tests, named after the endpoint's test (`<firing>.e<i>.c<j>`), with the audit's statistic,
 * scorer, alpha, b, L and seed. Undefined for an audit without identify.
 */
export function planIdentify(spec: AuditSpec, test: TestSpec): { spec: IdentifySpec; tests: TestSpec[] } | undefined {
  if (!spec.identify) return undefined;
  const identify = IdentifySpec.parse({
    y: test.y,
    candidates: spec.identify.candidates,
    stat: test.stat,
    ...(test.scorer ? { scorer: test.scorer } : {}),
    alpha: spec.alpha,
    b: spec.b,
    seed: spec.seed,
    L: spec.L,
  });
  return { spec: identify, tests: identifyTests(identify, (j) => `${test.testId}.c${j}`) };
}
