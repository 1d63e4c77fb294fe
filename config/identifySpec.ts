import { z } from 'zod';
import { canonicalJson, hashHex } from '../common/hash';
import { Name } from '../common/names';
import { holmAdjust } from '../stats/multiple';
import { isOneSampleTestStatistic, Selector, TestSpec } from './testSpec';

/** One runTest workflow per candidate: a bounded number of them. */
export const MAX_IDENTIFY_CANDIDATES = 32;

/** Candidate slices (MODEL/SOURCE of the endpoint's corpus): at least two, at most MAX_IDENTIFY_CANDIDATES. */
export const IdentifyCandidates = z
  .array(z.object({ model: Name, source: Name, samplesPerPrompt: Selector.shape.samplesPerPrompt }).strict())
  .min(2, 'give at least two candidate slices (MODEL/SOURCE) to choose between')
  .max(MAX_IDENTIFY_CANDIDATES, `at most ${MAX_IDENTIFY_CANDIDATES} candidates (each is a test run)`);

/**
 * Which model is it really serving (`met identify`, `POST /v1/identify`): the endpoint's slice `y`
 * tested against each candidate slice of the same corpus with one statistic, the p-values
 * Holm-corrected over the candidates. The test settings are a TestSpec's.
 */
export const IdentifySpec = z
  .object({
    y: Selector,
    candidates: IdentifyCandidates,
    stat: TestSpec.shape.stat,
    scorer: TestSpec.shape.scorer,
    /** The family-wise level over the candidates. */
    alpha: TestSpec.shape.alpha,
    b: TestSpec.shape.b,
    seed: TestSpec.shape.seed,
    L: TestSpec.shape.L,
    unit: TestSpec.shape.unit,
  })
  .strict();
export type IdentifySpec = z.infer<typeof IdentifySpec>;

/**
 * The pure part of identify, shared by `met identify` (client/identify.ts) and an audit firing
 * whose verdict turns to differs (workflows/auditFiring.ts): the test of each candidate, and the
 * Holm correction over their outcomes. The candidates not rejected are the ones the data cannot
 * tell apart from the endpoint.
 */
export const IdentifyRow = z.object({
  candidate: z.string(),
  statistic: z.string(),
  value: z.number(),
  pvalue: z.number(),
  /** Holm-adjusted over the candidates. */
  adjusted: z.number(),
  b: z.number().int(),
  /** Null statistics that were undefined (e.g. no support), as the test reported them. */
  undefinedNulls: z.number().int(),
  rejected: z.boolean(),
  testId: z.string(),
});
export type IdentifyRow = z.infer<typeof IdentifyRow>;

/** Read back through this where it was stored (an audit row's `identify` column). */
export const IdentifyResult = z.object({
  y: z.string(),
  stat: z.string(),
  alpha: z.number(),
  correction: z.literal('holm'),
  candidates: z.array(IdentifyRow),
  /** Most plausible first (largest adjusted p-value). */
  notRejected: z.array(z.string()),
});
export type IdentifyResult = z.infer<typeof IdentifyResult>;

/** What identify reads of each candidate's test outcome (activities/tests.ts TestOutcome has these and more). */
export interface CandidateOutcome {
  testId: string;
  statistic: string;
  value: number;
  pvalue: number;
  b: number;
  undefinedNulls: number;
}

/**
 * The test of each candidate (X) against the endpoint (Y). Its id is a hash of its settings (so a
 * repeated `met identify` attaches to the same runs), unless `testIdOf` names it (an audit firing's own ids).
 */
export function identifyTests(spec: IdentifySpec, testIdOf?: (index: number) => string): TestSpec[] {
  const y = { ...spec.y, seed: spec.seed };
  return spec.candidates.map((c, i) => {
    const base = {
      x: { corpus: y.corpus, ...c, seed: spec.seed },
      y,
      stat: spec.stat,
      ...(spec.scorer ? { scorer: spec.scorer } : {}),
      pvalue: isOneSampleTestStatistic(spec.stat) ? 'bootstrap' : 'permutation',
      b: spec.b,
      alpha: spec.alpha,
      seed: spec.seed,
      L: spec.L,
      unit: spec.unit,
    };
    return TestSpec.parse({ ...base, testId: testIdOf ? testIdOf(i) : `test-${hashHex(canonicalJson(base)).slice(0, 12)}` });
  });
}

/** The candidates' outcomes (in the spec's order), Holm-corrected at the spec's alpha. */
export function identifyResult(spec: IdentifySpec, outcomes: readonly CandidateOutcome[]): IdentifyResult {
  const adjusted = holmAdjust(outcomes.map((o) => o.pvalue));
  const rows = spec.candidates.map((c, i) => ({
    candidate: `${c.model}/${c.source}`,
    statistic: outcomes[i].statistic,
    value: outcomes[i].value,
    pvalue: outcomes[i].pvalue,
    adjusted: adjusted[i],
    b: outcomes[i].b,
    undefinedNulls: outcomes[i].undefinedNulls,
    rejected: adjusted[i] <= spec.alpha,
    testId: outcomes[i].testId,
  }));
  const notRejected = rows
    .filter((r) => !r.rejected)
    .sort((a, b) => b.adjusted - a.adjusted)
    .map((r) => r.candidate);
  return { y: `${spec.y.corpus}:${spec.y.model}/${spec.y.source}`, stat: spec.stat, alpha: spec.alpha, correction: 'holm', candidates: rows, notRejected };
}
