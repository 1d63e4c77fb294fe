import { type Client, WorkflowFailedError } from '@temporalio/client';
import type { TestOutcome } from '../activities/tests';
import { canonicalJson, hashHex } from '../common/hash';
import type { IdentifySpec } from '../config/identifySpec';
import { isOneSampleTestStatistic, TestSpec } from '../config/testSpec';
import { resultOf } from '../jobs';
import { holmAdjust } from '../stats/multiple';
import { newRunRecord, rootCauseText, type RunsAt, saveRunRecord, startOrAttach } from './runs';

/**
 * Which model is it really serving: one runTest workflow per candidate (as `met test` starts
 * them, so a repeated question attaches to the same runs), Holm-corrected over the candidates. The
 * candidates not rejected are the ones the data cannot tell apart from the endpoint.
 */
export interface IdentifyRow {
  candidate: string;
  statistic: string;
  value: number;
  pvalue: number;
  /** Holm-adjusted over the candidates. */
  adjusted: number;
  b: number;
  /** Null statistics that were undefined (e.g. no support), as the test reported them. */
  undefinedNulls: number;
  rejected: boolean;
  testId: string;
}

export interface IdentifyResult {
  y: string;
  stat: string;
  alpha: number;
  correction: 'holm';
  candidates: IdentifyRow[];
  /** Most plausible first (largest adjusted p-value). */
  notRejected: string[];
}

/** The test of each candidate (X) against the endpoint (Y); its id a hash of its settings. */
export function identifyTests(spec: IdentifySpec): TestSpec[] {
  const y = { ...spec.y, seed: spec.seed };
  return spec.candidates.map((c) => {
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
    return TestSpec.parse({ ...base, testId: `test-${hashHex(canonicalJson(base)).slice(0, 12)}` });
  });
}

export function identifyResult(spec: IdentifySpec, outcomes: TestOutcome[]): IdentifyResult {
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

/** Starts (or attaches to) every candidate's test, waits for all, and corrects. */
export async function runIdentify(client: Client, runs: RunsAt, spec: IdentifySpec, options: { taskQueue: string }): Promise<IdentifyResult> {
  const tests = identifyTests(spec);
  const outcomes = await Promise.all(
    tests.map(async (input) => {
      const record = newRunRecord({ job: 'runTest', input }, input.testId, { taskQueue: options.taskQueue });
      await saveRunRecord(runs, record);
      await startOrAttach(client, record);
      try {
        return await resultOf<'runTest'>(client, { job: 'runTest', input, workflowId: record.workflowId });
      } catch (err) {
        if (!(err instanceof WorkflowFailedError)) throw err;
        throw new Error(`the test against ${input.x.model}/${input.x.source} (run ${record.runId}) failed: ${rootCauseText(err)}`, { cause: err });
      }
    }),
  );
  return identifyResult(spec, outcomes);
}
