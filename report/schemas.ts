import { z } from 'zod';

/**
 * Input of met's reports. A report is run metadata plus one or more sections: a power simulation
 * grid, a set of test verdicts, a consistency comparison. Producers (the power workflow's report
 * step, `met demo`, `met consistency`) build these objects; `writeReport` validates them, so a
 * wrong field fails here with its path instead of drawing a misleading plot.
 */

const probability = z.number().min(0).max(1);
const finite = z.number().refine(Number.isFinite, 'must be a finite number');

export const RunMetadata = z.object({
  runId: z.string().min(1),
  /** ISO 8601 time the run (or the report) was made. */
  createdAt: z.string().min(1),
  /** Every seed that determines the results, by name ("grid", "subsets", "permutations"...). */
  seeds: z.record(z.string(), z.union([z.number(), z.string()])).default({}),
  /** The validated run spec, shown verbatim (JSON) so a reader can rerun it. */
  spec: z.unknown().optional(),
  /** Versions of met and of anything that changes numbers (statistics engine, models, providers). */
  versions: z.record(z.string(), z.string()).default({}),
  /** Temporal UI page of the run's workflow. */
  temporalUiUrl: z.url().optional(),
  /** Other workflows that contributed (child runs, per-endpoint tests), with their UI links. */
  workflows: z.array(z.object({ id: z.string().min(1), label: z.string().optional(), url: z.url().optional() })).default([]),
  notes: z.array(z.string()).default([]),
});
export type RunMetadata = z.infer<typeof RunMetadata>;

/**
 * One cell of a power grid: `rejections` of `sims` simulated tests rejected at alpha. Cells that
 * differ only in `subsetDraw` (random prompt subsets of the same size) are pooled in plots and tables.
 */
export const PowerCell = z
  .object({
    reference: z.string().min(1),
    alternative: z.string().min(1),
    statistic: z.string().min(1),
    /** Samples per prompt per side; N = nPerPrompt * m. */
    nPerPrompt: z.number().int().positive(),
    /** Number of prompts in the subset. */
    m: z.number().int().positive(),
    sims: z.number().int().positive(),
    rejections: z.number().int().nonnegative(),
    /** Optional; when given it must equal rejections / sims. */
    power: probability.optional(),
    subsetDraw: z.number().int().nonnegative().optional(),
    /** Reference-vs-reference cell (type-I error). Defaults to alternative === reference. */
    isNull: z.boolean().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.rejections > c.sims) ctx.addIssue({ code: 'custom', path: ['rejections'], message: `${c.rejections} rejections out of ${c.sims} simulations` });
    if (c.power !== undefined && Math.abs(c.power - c.rejections / c.sims) > 1e-9)
      ctx.addIssue({ code: 'custom', path: ['power'], message: `power ${c.power} is not rejections/sims = ${c.rejections}/${c.sims}` });
  });
export type PowerCell = z.infer<typeof PowerCell>;

/** Simulated null statistics of one test, with the observed statistic when there is one. */
export const NullDistribution = z.object({
  label: z.string().min(1),
  statistic: z.string().min(1),
  values: z.array(finite).min(1),
  observed: finite.optional(),
  pValue: probability.optional(),
});
export type NullDistribution = z.infer<typeof NullDistribution>;

export const PowerSection = z.object({
  kind: z.literal('power'),
  title: z.string().default('Power simulation'),
  alpha: probability.default(0.05),
  ciMethod: z.enum(['wilson', 'clopper-pearson']).default('wilson'),
  ciLevel: z.number().gt(0).lt(1).default(0.95),
  unit: z.enum(['char', 'token']).optional(),
  /** Completion length, permutations/bootstrap draws per test; shown in the caption. */
  L: z.number().int().positive().optional(),
  b: z.number().int().positive().optional(),
  cells: z.array(PowerCell).min(1),
  /** Samples per prompt for the paper-style table; defaults to the largest in the grid. */
  tableNPerPrompt: z.number().int().positive().optional(),
  nullDistributions: z.array(NullDistribution).default([]),
  /** Caveats about the grid shown above its table (e.g. pools too small for the draw size). */
  warnings: z.array(z.string()).default([]),
  /**
   * Alternatives that are a share of a substitute (mixture substitution): the alternative's label,
   * the substitute's and the share of requests it serves (0 for the reference itself, 1 for the
   * substitute alone). When given, the section also plots power against the share.
   */
  mixtureShares: z.array(z.object({ alternative: z.string().min(1), substitute: z.string().min(1), share: probability })).default([]),
});
export type PowerSection = z.infer<typeof PowerSection>;
export type PowerSectionInput = z.input<typeof PowerSection>;

export const TestDecision = z.enum(['reject', 'fail_to_reject']);
export type TestDecision = z.infer<typeof TestDecision>;

export const TestResult = z.object({
  /** What was tested: an endpoint, a provider/model, a local precision. */
  endpoint: z.string().min(1),
  /** What it was tested against, e.g. "F32". */
  reference: z.string().min(1),
  statistic: z.string().min(1),
  value: finite,
  /** For a composite null, the larger of the per-reference p-values (reject iff every test rejects). */
  pValue: probability,
  /** Permutations or bootstrap draws behind the p-value. */
  b: z.number().int().positive(),
  decision: TestDecision,
  n1: z.number().int().positive(),
  n2: z.number().int().positive(),
  /** The b null statistics, for the histogram figure (optional: they can be large). */
  nullStatistics: z.array(finite).optional(),
  workflowUrl: z.url().optional(),
});
export type TestResult = z.infer<typeof TestResult>;

/** Checks decision against p <= alpha, so a report can never print a verdict its numbers contradict. */
function checkDecisions(results: TestResult[], alpha: number, ctx: z.RefinementCtx, path: (string | number)[]): void {
  results.forEach((r, i) => {
    const rejects = r.pValue <= alpha;
    if (rejects !== (r.decision === 'reject'))
      ctx.addIssue({
        code: 'custom',
        path: [...path, i, 'decision'],
        message: `${r.endpoint} (${r.statistic}): decision '${r.decision}' but p = ${r.pValue} ${rejects ? '<=' : '>'} alpha = ${alpha}`,
      });
  });
}

export const TestSection = z
  .object({
    kind: z.literal('test'),
    title: z.string().default('Which model is this endpoint serving?'),
    alpha: probability.default(0.05),
    results: z.array(TestResult).min(1),
  })
  .superRefine((s, ctx) => checkDecisions(s.results, s.alpha, ctx, ['results']));
export type TestSection = z.infer<typeof TestSection>;
export type TestSectionInput = z.input<typeof TestSection>;

export const ConsistencyPrompt = z.object({
  promptId: z.string().min(1),
  /** Prompt text (shown truncated in the table). */
  prompt: z.string().optional(),
  /** Cosine similarity of the two sides' answer embeddings. */
  similarity: z
    .number()
    .min(-1 - 1e-9)
    .max(1 + 1e-9),
  perplexityA: z.number().positive().optional(),
  perplexityB: z.number().positive().optional(),
});
export type ConsistencyPrompt = z.infer<typeof ConsistencyPrompt>;

export const ConsistencySection = z
  .object({
    kind: z.literal('consistency'),
    title: z.string().default('Consistency'),
    a: z.object({ label: z.string().min(1), source: z.string().optional() }),
    b: z.object({ label: z.string().min(1), source: z.string().optional() }),
    embedModel: z.string().min(1),
    /** The model both sides' perplexities were computed under, over the same tokens. */
    scorer: z.string().min(1),
    prompts: z.array(ConsistencyPrompt).min(1),
    /** Overall values as the producer defines them (e.g. token-weighted perplexity); similarity mean is computed if absent. */
    summary: z
      .object({ meanSimilarity: z.number().optional(), perplexityA: z.number().positive().optional(), perplexityB: z.number().positive().optional() })
      .default({}),
    alpha: probability.default(0.05),
    mmd: TestResult.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.mmd) checkDecisions([s.mmd], s.alpha, ctx, ['mmd']);
  });
export type ConsistencySection = z.infer<typeof ConsistencySection>;
export type ConsistencySectionInput = z.input<typeof ConsistencySection>;

/**
 * Attribution (`met identify`): the endpoint tested against each candidate with one statistic, the
 * p-values Holm-corrected over the candidates; a candidate is rejected when its adjusted p <= alpha.
 */
export const IdentifyCandidate = z.object({
  /** model/source of the candidate slice. */
  candidate: z.string().min(1),
  statistic: z.string().min(1),
  value: finite,
  pValue: probability,
  /** Holm-adjusted over the candidates: what the decision reads. */
  adjusted: probability,
  b: z.number().int().positive(),
  /** Null statistics that were undefined, as the test reported them. */
  undefinedNulls: z.number().int().nonnegative().default(0),
  decision: TestDecision,
  n1: z.number().int().positive().optional(),
  n2: z.number().int().positive().optional(),
});
export type IdentifyCandidate = z.infer<typeof IdentifyCandidate>;

export const IdentifySection = z
  .object({
    kind: z.literal('identify'),
    title: z.string().default('Which model is it really serving?'),
    /** The endpoint's slice, corpus:model/source. */
    endpoint: z.string().min(1),
    alpha: probability.default(0.05),
    correction: z.literal('holm').default('holm'),
    candidates: z.array(IdentifyCandidate).min(1),
  })
  .superRefine((s, ctx) =>
    s.candidates.forEach((c, i) => {
      const rejects = c.adjusted <= s.alpha;
      if (rejects !== (c.decision === 'reject'))
        ctx.addIssue({
          code: 'custom',
          path: ['candidates', i, 'decision'],
          message: `${c.candidate}: decision '${c.decision}' but adjusted p = ${c.adjusted} ${rejects ? '<=' : '>'} alpha = ${s.alpha}`,
        });
    }),
  );
export type IdentifySection = z.infer<typeof IdentifySection>;

export const ReportSection = z.discriminatedUnion('kind', [PowerSection, TestSection, ConsistencySection, IdentifySection]);
export type ReportSection = z.infer<typeof ReportSection>;

export const Report = z.object({
  title: z.string().min(1),
  meta: RunMetadata,
  sections: z.array(ReportSection).min(1),
});
export type Report = z.infer<typeof Report>;
/** What callers pass: defaults (alpha 0.05, Wilson intervals...) may be left out. */
export type ReportInput = z.input<typeof Report>;
