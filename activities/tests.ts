import { createHash } from 'node:crypto';
import type { DuckDBInstance } from '@duckdb/node-api';
import { Context } from '@temporalio/activity';
import { ErrorTypes, MetError } from '../common/errors';
import { toApplicationFailure } from '../common/failures';
import { samplerSettingsKey } from '../config/sampler';
import type { Selector, TestSpec } from '../config/testSpec';
import {
  assertOneScorerRoute,
  completionScores,
  ownLogprobGap,
  readSamplers,
  readSlice,
  type OwnLogprobGap,
  type Slice,
  type TestResultRow,
} from '../datasets';
import { type Corpora, LocalCorpora } from '../datasets/corpora';
import { nullDistribution, oneSampleTestInThread, rutTest, twoSampleTestInThread, type EncodedSample } from '../stats';
import { isOneSampleTestStatistic } from '../config/testSpec';
import { heartbeatingAll } from './heartbeat';

const sliceLabel = (s: Selector) => `${s.corpus}:${s.model}/${s.source}`;

/** The fields every test's result row takes from its spec: which test, on which two slices. */
function rowIdentity(spec: TestSpec) {
  return {
    corpus: spec.x.corpus,
    runId: spec.testId,
    testId: spec.testId,
    unit: spec.unit,
    xModel: spec.x.model,
    xSource: spec.x.source,
    yModel: spec.y.model,
    ySource: spec.y.source,
  };
}

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
  /** rut only: prompts (= API completions), reference completions per prompt (smallest), score function, scorer. */
  rut?: { n: number; k: number; score: string; scorer: string };
  /**
   * One-sample tests, where Y's rows carry the endpoint's own token logprobs: how far they are from
   * the scorer's on the same tokens (a serving stack's own numbers beside the reference's; not part
   * of the verdict).
   */
  ownLogprobs?: OwnLogprobGap;
  /** What the reader should know before trusting the verdict (e.g. X and Y drawn with different samplers). */
  warnings?: string[];
  /**
   * A digest of the data the test read (each side's prompts, sample keys and payloads): the stored
   * result's key is the test id and this, so a test rerun after its slices grew is stored beside
   * the earlier result instead of replacing it.
   */
  dataId?: string;
}

/** The digest of what a test read: same slices, same rows, same digest, on any host. */
function dataDigest(slices: readonly (Slice | undefined)[]): string {
  const h = createHash('sha256');
  for (const s of slices) {
    if (!s) continue;
    h.update(JSON.stringify(s.promptIds));
    for (const a of [s.sample.prompts, s.sampleIndex, s.sample.tokens, s.logprobSum]) if (a) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * Compares the sampler settings X and Y were drawn with (rows written before samples recorded their
 * sampler are left out): a warning per difference, or a non-retryable failure with 'refuse'.
 */
async function samplerWarnings(deps: { duck: DuckDBInstance; readRoot: (corpus: string) => Promise<string> }, spec: TestSpec): Promise<string[]> {
  const settingsOf = async (s: Selector) => {
    const keys = new Set(
      (await readSamplers(deps.duck, await deps.readRoot(s.corpus), s)).map((r) => samplerSettingsKey(r.sampler)).filter((k): k is string => k !== null),
    );
    return [...keys];
  };
  const [x, y] = [await settingsOf(spec.x), await settingsOf(spec.y)];
  const warnings: string[] = [];
  for (const [side, keys, s] of [
    ['X', x, spec.x],
    ['Y', y, spec.y],
  ] as const) {
    if (keys.length > 1) warnings.push(`${side} (${s.model}/${s.source}) mixes ${keys.length} sampler settings: ${keys.join(' | ')}`);
  }
  if (x.length === 1 && y.length === 1 && x[0] !== y[0]) {
    warnings.push(
      `X (${spec.x.model}/${spec.x.source}) was sampled with ${x[0]} and Y (${spec.y.model}/${spec.y.source}) with ${y[0]}: the test compares the samplers as well as the models`,
    );
  }
  if (warnings.length && spec.samplerMismatch === 'refuse') {
    throw new MetError(ErrorTypes.BadInput, `samplerMismatch is 'refuse': ${warnings.join('; ')}`);
  }
  return warnings;
}

export function createTestActivities(base: { duck: DuckDBInstance; dataDir: string; corpora?: Corpora }) {
  // A bucket corpus is read from this host's cache of it (synced before each read); results are committed to it.
  const corpora = base.corpora ?? new LocalCorpora(base.duck, base.dataDir);
  const deps = { duck: base.duck, readRoot: (corpus: string) => corpora.readRoot(corpus, ['samples', 'logprobs']) };
  const slice = async (s: Selector, spec: TestSpec, promptIds?: string[]) =>
    readSlice(deps.duck, await deps.readRoot(s.corpus), {
      corpus: s.corpus,
      models: [s.model],
      sources: [s.source],
      promptIds,
      samplesPerPrompt: s.samplesPerPrompt,
      seed: s.seed,
      unit: spec.unit,
      L: spec.L,
    });
  return heartbeatingAll({
    /**
     * The rank-based uniformity test between stored slices: X (the reference, k samples per prompt)
     * and Y (the target, one per prompt unless Y's samplesPerPrompt says otherwise), both scored
     * under spec.scorer. Prompts are those of X that Y has too.
     */
    async runRankUniformityTest(spec: TestSpec): Promise<TestOutcome> {
      try {
        const t0 = performance.now();
        if (spec.stat !== 'rut' || !spec.scorer) throw new MetError(ErrorTypes.BadInput, 'runRankUniformityTest takes stat rut with a scorer');
        const score = spec.score ?? 'sum_logprob';
        const warnings = await samplerWarnings(deps, spec);
        const logprobsUnder = { scorerModel: spec.scorer.model, scorerPrecision: spec.scorer.precision };
        const read = async (s: Selector, promptIds?: string[], samplesPerPrompt?: number) =>
          readSlice(deps.duck, await deps.readRoot(s.corpus), {
            corpus: s.corpus,
            models: [s.model],
            sources: [s.source],
            promptIds,
            samplesPerPrompt,
            seed: s.seed,
            unit: spec.unit,
            L: 1,
            logprobsUnder,
            allowFewer: true,
          });
        const x = await read(spec.x, undefined, spec.x.samplesPerPrompt);
        const y = await read(spec.y, x.promptIds, spec.y.samplesPerPrompt ?? 1);
        assertOneScorerRoute(`${spec.scorer.model}/${spec.scorer.precision}`, [
          { name: sliceLabel(spec.x), routes: x.scorerRoutes },
          { name: sliceLabel(spec.y), routes: y.scorerRoutes },
        ]);
        const scores = new Map([x, y].map((sl, i) => [sl, completionScores(sl, score, i === 0 ? 'X' : 'Y')]));
        const scoreOf = (sl: typeof x, i: number) => scores.get(sl)![i];
        // Reference scores grouped by prompt; one target row per (prompt, sample) of Y with the reference of its prompt.
        const m = x.sample.m;
        const refByPrompt = Array.from({ length: m }, () => [] as number[]);
        for (let i = 0; i < x.sample.prompts.length; i++) refByPrompt[x.sample.prompts[i]].push(scoreOf(x, i));
        const targets: number[] = [];
        const refs: number[] = [];
        const offsets = [0];
        for (let i = 0; i < y.sample.prompts.length; i++) {
          const pool = refByPrompt[y.sample.prompts[i]];
          if (pool.length === 0) continue; // a prompt X lacks: nothing to rank against
          targets.push(scoreOf(y, i));
          refs.push(...pool);
          offsets.push(refs.length);
        }
        const r = rutTest({ target: Float64Array.from(targets), reference: Float64Array.from(refs), offsets: Int32Array.from(offsets), seed: spec.seed });
        const reject = r.pvalue <= spec.alpha;
        const seconds = (performance.now() - t0) / 1000;
        const scorer = `${spec.scorer.model}@${spec.scorer.precision}`;
        const row: TestResultRow = {
          ...rowIdentity(spec),
          statistic: `rut_${score}`,
          L: 1,
          reference: scorer,
          promptSet: 'selected',
          m,
          n1: refs.length,
          n2: r.n,
          value: r.statistic,
          pValue: r.pvalue,
          alpha: spec.alpha,
          decision: reject ? 'reject' : 'fail_to_reject',
          pvalueMethod: 'cramer_von_mises',
          b: r.k,
          seed: spec.seed,
          durationMs: seconds * 1000,
          createdAt: new Date(),
          nullStatistics: null,
        };
        const dataId = dataDigest([x, y]);
        await corpora.writeShard({ corpus: spec.x.corpus, kind: 'tests', partition: {}, unitId: `${spec.testId}-${dataId}` }, [row]);
        return {
          dataId,
          testId: spec.testId,
          statistic: 'rut',
          value: r.statistic,
          pvalue: r.pvalue,
          reject,
          alpha: spec.alpha,
          b: r.k,
          n1: refs.length,
          n2: r.n,
          m,
          seconds,
          undefinedNulls: 0,
          rut: { n: r.n, k: r.k, score, scorer },
          ...(warnings.length ? { warnings } : {}),
        };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /**
     * MET's one-sample test: Y's completions against the reference model's own probabilities. The
     * null's support is every distinct completion of X (stored draws of the reference) and Y, each
     * with log P(completion | prompt) under spec.scorer (its logprob sum: scoreCorpus scores the whole
     * completion, so L must not cut one); the parametric bootstrap resamples X.
     */
    async runOneSampleTest(spec: TestSpec): Promise<TestOutcome> {
      try {
        const t0 = performance.now();
        if (!isOneSampleTestStatistic(spec.stat) || !spec.scorer)
          throw new MetError(ErrorTypes.BadInput, 'runOneSampleTest takes a one-sample statistic with a scorer');
        const warnings = await samplerWarnings(deps, spec);
        const logprobsUnder = { scorerModel: spec.scorer.model, scorerPrecision: spec.scorer.precision };
        const read = async (s: Selector, promptIds?: string[]) =>
          readSlice(deps.duck, await deps.readRoot(s.corpus), {
            corpus: s.corpus,
            models: [s.model],
            sources: [s.source],
            promptIds,
            samplesPerPrompt: s.samplesPerPrompt,
            seed: s.seed,
            unit: spec.unit,
            L: spec.L,
            logprobsUnder,
          });
        const x = await read(spec.x);
        const y = await read(spec.y, x.promptIds);
        assertOneScorerRoute(`${spec.scorer.model}/${spec.scorer.precision}`, [
          { name: sliceLabel(spec.x), routes: x.scorerRoutes },
          { name: sliceLabel(spec.y), routes: y.scorerRoutes },
        ]);
        const join = <T extends Int32Array | Float64Array>(a: T, b: T, make: (n: number) => T): T => {
          const out = make(a.length + b.length);
          out.set(a);
          out.set(b, a.length);
          return out;
        };
        const support: EncodedSample = {
          L: spec.L,
          m: x.sample.m,
          prompts: join(x.sample.prompts, y.sample.prompts, (n) => new Int32Array(n)),
          tokens: join(x.sample.tokens, y.sample.tokens, (n) => new Int32Array(n)),
          pad: x.sample.pad,
        };
        let nul;
        try {
          nul = nullDistribution(
            support,
            join(x.logprobSum!, y.logprobSum!, (n) => new Float64Array(n)),
          );
        } catch (err) {
          // Two completions equal after truncation to L but scored apart: L cut them.
          throw new MetError(
            ErrorTypes.BadInput,
            `${(err as Error).message}. The one-sample tests use whole completions: raise L above the longest completion`,
          );
        }
        // In a thread of its own, as the two-sample test: b bootstrap draws take as long as the spec asks,
        // and meanwhile this activity heartbeats (heartbeatingAll) and a cancellation ends the thread.
        const r = await oneSampleTestInThread(
          { name: spec.stat, sample: y.sample, nullDist: nul, pool: x.sample, options: { b: spec.b, seed: spec.seed } },
          Context.current().cancellationSignal,
        );
        const ownLogprobs = await ownLogprobGap(deps.duck, await deps.readRoot(spec.y.corpus), {
          corpus: spec.y.corpus,
          model: spec.y.model,
          source: spec.y.source,
          promptIds: x.promptIds,
          scorerModel: spec.scorer.model,
          scorerPrecision: spec.scorer.precision,
        });
        const reject = r.pvalue <= spec.alpha;
        const seconds = (performance.now() - t0) / 1000;
        const scorer = `${spec.scorer.model}@${spec.scorer.precision}`;
        const row: TestResultRow = {
          ...rowIdentity(spec),
          statistic: spec.stat,
          L: spec.L,
          reference: scorer,
          promptSet: 'selected',
          m: x.sample.m,
          n1: x.sample.prompts.length,
          n2: y.sample.prompts.length,
          value: r.statistic,
          pValue: r.pvalue,
          alpha: spec.alpha,
          decision: reject ? 'reject' : 'fail_to_reject',
          pvalueMethod: 'bootstrap',
          b: spec.b,
          seed: spec.seed,
          durationMs: seconds * 1000,
          createdAt: new Date(),
          nullStatistics: Array.from(r.nulls),
        };
        const dataId = dataDigest([x, y]);
        await corpora.writeShard({ corpus: spec.x.corpus, kind: 'tests', partition: {}, unitId: `${spec.testId}-${dataId}` }, [row]);
        return {
          dataId,
          testId: spec.testId,
          statistic: spec.stat,
          value: r.statistic,
          pvalue: r.pvalue,
          reject,
          alpha: spec.alpha,
          b: spec.b,
          undefinedNulls: r.undefinedNulls,
          n1: x.sample.prompts.length,
          n2: y.sample.prompts.length,
          m: x.sample.m,
          seconds,
          ...(warnings.length ? { warnings } : {}),
          ...(ownLogprobs ? { ownLogprobs } : {}),
        };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    async runTwoSampleTest(spec: TestSpec): Promise<TestOutcome> {
      try {
        const stat = spec.stat;
        if (stat === 'rut' || isOneSampleTestStatistic(stat))
          throw new MetError(ErrorTypes.BadInput, `stat ${stat} runs through ${stat === 'rut' ? 'runRankUniformityTest' : 'runOneSampleTest'}`);
        const warnings = await samplerWarnings(deps, spec);
        const x = await slice(spec.x, spec);
        const y = await slice(spec.y, spec, x.promptIds);
        const reference =
          spec.pvalue === 'bootstrap' ? await slice(spec.reference ?? { ...spec.x, samplesPerPrompt: undefined }, spec, x.promptIds) : undefined;
        // In a thread of its own: this activity heartbeats meanwhile (heartbeatingAll), a cancellation ends the
        // thread, and the worker's other activities keep running (a large b no longer stalls the worker).
        const r = await twoSampleTestInThread(
          {
            x: x.sample,
            y: y.sample,
            stat,
            pvalue: spec.pvalue,
            b: spec.b,
            seed: spec.seed,
            k: spec.k,
            cumulative: spec.cumulative,
            reference: reference?.sample,
          },
          Context.current().cancellationSignal,
        );
        const reject = r.pvalue <= spec.alpha;
        const row: TestResultRow = {
          ...rowIdentity(spec),
          statistic: spec.stat,
          L: spec.L,
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
        const dataId = dataDigest([x, y, reference]);
        await corpora.writeShard({ corpus: spec.x.corpus, kind: 'tests', partition: {}, unitId: `${spec.testId}-${dataId}` }, [row]);
        return {
          dataId,
          testId: spec.testId,
          statistic: spec.stat,
          value: r.statistic,
          pvalue: r.pvalue,
          reject,
          alpha: spec.alpha,
          b: spec.b,
          undefinedNulls: r.undefinedNulls,
          n1: r.n1,
          n2: r.n2,
          m: x.sample.m,
          seconds: r.seconds,
          ...(warnings.length ? { warnings } : {}),
        };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  });
}
export type TestActivities = ReturnType<typeof createTestActivities>;
