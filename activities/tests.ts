import type { DuckDBInstance } from '@duckdb/node-api';
import { toApplicationFailure } from '../common/failures';
import type { Selector, TestSpec } from '../config/testSpec';
import { readSlice, writeShard, type TestResultRow } from '../datasets';
import { Context } from '@temporalio/activity';
import { twoSampleTestInThread } from '../stats';
import { heartbeating } from './heartbeat';

/** Statistical tests on stored corpora (CPU queue): read the slices, test, store one result row. */
export interface TestOutcome {
  testId: string;
  statistic: string;
  value: number;
  pvalue: number;
  reject: boolean;
  alpha: number;
  b: number;
  /** Null statistics with a zero denominator (never counted as >= the observed one). */
  undefinedNulls: number;
  n1: number;
  n2: number;
  m: number;
  seconds: number;
}

export function createTestActivities(deps: { duck: DuckDBInstance; dataDir: string }) {
  const slice = (s: Selector, spec: TestSpec, promptIds?: string[]) =>
    readSlice(deps.duck, deps.dataDir, {
      corpus: s.corpus,
      models: [s.model],
      sources: [s.source],
      promptIds,
      samplesPerPrompt: s.samplesPerPrompt,
      seed: s.seed,
      unit: spec.unit,
      L: spec.L,
    });
  return {
    async runTwoSampleTest(spec: TestSpec): Promise<TestOutcome> {
      try {
        const x = await slice(spec.x, spec);
        const y = await slice(spec.y, spec, x.promptIds);
        const reference = spec.pvalue === 'bootstrap' ? await slice(spec.reference ?? { ...spec.x, samplesPerPrompt: undefined }, spec, x.promptIds) : undefined;
        // In a thread of its own: this activity heartbeats meanwhile, a cancellation ends the thread, and the
        // worker's other activities keep running (a large b no longer stalls the worker).
        const r = await heartbeating(() =>
          twoSampleTestInThread({ x: x.sample, y: y.sample, stat: spec.stat, pvalue: spec.pvalue, b: spec.b, seed: spec.seed, k: spec.k, cumulative: spec.cumulative, reference: reference?.sample }, Context.current().cancellationSignal),
        );
        const reject = r.pvalue <= spec.alpha;
        const row: TestResultRow = {
          corpus: spec.x.corpus,
          runId: spec.testId,
          testId: spec.testId,
          statistic: spec.stat,
          unit: spec.unit,
          L: spec.L,
          xModel: spec.x.model,
          xSource: spec.x.source,
          yModel: spec.y.model,
          ySource: spec.y.source,
          reference: null,
          promptSet: x.promptIds.length ? 'selected' : 'none',
          m: x.sample.m,
          n1: r.n1,
          n2: r.n2,
          value: r.statistic,
          pValue: r.pvalue,
          alpha: spec.alpha,
          decision: reject ? 'reject' : 'fail_to_reject',
          pvalueMethod: spec.pvalue,
          b: spec.b,
          seed: spec.seed,
          durationMs: r.seconds * 1000,
          createdAt: new Date(),
          nullStatistics: Array.from(r.nulls),
        };
        await writeShard(deps.duck, deps.dataDir, { corpus: spec.x.corpus, kind: 'tests', partition: {}, unitId: spec.testId }, [row]);
        return { testId: spec.testId, statistic: spec.stat, value: r.statistic, pvalue: r.pvalue, reject, alpha: spec.alpha, b: spec.b, undefinedNulls: r.undefinedNulls, n1: r.n1, n2: r.n2, m: x.sample.m, seconds: r.seconds };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
}
export type TestActivities = ReturnType<typeof createTestActivities>;
