// The stand-in activities scripts/record-histories.ts records histories with (and tests that run workflows without real work).
import { ApplicationFailure } from '@temporalio/common';
import type { AuditAlert, RecordFiringInput, VerdictsInput } from '../../activities/audits';
import type { SampleShardRef } from '../../activities/logprobs';
import type { TrackingOutcomeInput } from '../../activities/tracking';
import type { PowerPlan } from '../../activities/power';
import type { TestOutcome } from '../../activities/tests';
import type { RunSpec } from '../../config/runSpec';
import type { TestSpec } from '../../config/testSpec';
import { REPLAY_QUEUES } from './cases';
import { planSources, sourceShapes, type WorkUnit } from '../../collect/plan';

const outcome = (spec: TestSpec): TestOutcome => ({
  testId: spec.testId,
  statistic: spec.stat,
  value: 0.25,
  pvalue: 0.5,
  reject: false,
  alpha: spec.alpha,
  b: spec.b,
  undefinedNulls: 0,
  n1: 6,
  n2: 6,
  m: 2,
  seconds: 0.01,
});

/** Stand-in activities: fixed, tiny results shaped like the real ones. */
export function cpuActivities() {
  const verified = new Set<string>();
  const shards: SampleShardRef[] = [0, 1, 2].map((i) => ({
    path: `/data/replay/samples/part-${i}.parquet`,
    model: 'm1',
    source: 'replay',
    unitId: `unit-${i}`,
    rows: 2,
  }));
  return {
    async describeWorker() {
      return { host: 'replay-host', pid: 1, node: 'v20.0.0', queues: [REPLAY_QUEUES.cpu] };
    },
    async prepareRun(input: { spec: RunSpec; runId: string }) {
      return {
        promptSet: 'inline',
        promptsFile: `/data/${input.spec.corpus}/prompts.parquet`,
        promptCount: 'inline' in input.spec.prompts ? input.spec.prompts.inline.length : 1,
      };
    },
    async scanUnits(input: { spec: RunSpec; runId: string; promptCount: number }) {
      // The first unit of the first source is on disk already (a resumed run): the run skips it.
      const plans = planSources(input.spec, input.runId, input.promptCount);
      const doneUnits = plans.map((p, i) => (i === 0 ? [p.units[0].unitId] : []));
      return { doneUnits, doneRows: plans.map((p, i) => (i === 0 ? p.units[0].end - p.units[0].start : 0)), quarantined: plans.map(() => 0) };
    },
    async scanPage(input: { spec: RunSpec; runId: string; promptCount: number; from: number[]; limit: number }) {
      // As scanUnits: the first unit of the first source is on disk already; the rest is to do, a page at a time.
      return sourceShapes(input.spec, input.promptCount).map((shape, i) => {
        const pending: { index: number; doneUnitsBefore: number; doneRowsBefore: number }[] = [];
        let index = input.from[i] ?? 0;
        const doneFirst = i === 0 && index === 0 ? 1 : 0;
        const firstRows = doneFirst ? Math.min(shape.total, input.spec.unitSize) : 0;
        for (index += doneFirst; index < shape.unitCount && pending.length < input.limit; index++)
          pending.push({ index, doneUnitsBefore: doneFirst, doneRowsBefore: firstRows });
        return { pending, next: index, doneUnits: doneFirst, doneRows: firstRows, quarantined: 0 };
      });
    },
    async finalizeRun(input: { spec: RunSpec; runId: string; promptCount: number }) {
      const expected = input.promptCount * input.spec.samplesPerPrompt;
      const sources = input.spec.sources.map((s) => ({
        model: s.model,
        source: s.kind === 'provider' ? (s.source ?? s.provider) : (s.source ?? s.precision),
        rows: expected,
        expected,
      }));
      return { runId: input.runId, corpus: input.spec.corpus, rows: expected * sources.length, sources, manifest: `/data/${input.spec.corpus}/manifest.json` };
    },
    async listSampleShards() {
      return shards;
    },
    async runTwoSampleTest(spec: TestSpec) {
      return outcome(spec);
    },
    async runRankUniformityTest(spec: TestSpec) {
      return outcome(spec);
    },
    async runOneSampleTest(spec: TestSpec) {
      return outcome(spec);
    },
    async planPowerGrid(input: { runId: string }): Promise<PowerPlan> {
      const nullKeys = [0, 1].map((i) => ({ id: `${input.runId}-null-${i}`, draw: 0, n: 2, statistic: 'mmd_hamming' as const }));
      const cells = [0, 1, 2].map((i) => ({
        cellId: `cell-${i}`,
        draw: 0,
        n: 2,
        statistic: 'mmd_hamming' as const,
        alternative: { model: 'tiny', source: i === 0 ? 'fp32' : 'nf4' },
        isNull: i === 0,
        nullKeys: [nullKeys[i % 2].id],
        warnings: [],
      }));
      return { subsets: [['p0', 'p1']], nullKeys, cells, warnings: [] };
    },
    async computeNulls(input: { key: { id: string } }) {
      return `/data/replay/nulls/${input.key.id}.parquet`;
    },
    async runPowerCell(input: { cell: { cellId: string } }) {
      return { cellId: input.cell.cellId, rejections: 1, sims: 2, power: 0.5, skipped: false, warnings: [] };
    },
    async compareSides() {
      const side = { model: 'm1', source: 'replay', answers: 2, meanPerplexity: 3 };
      return {
        embedModel: 'tiny/fp32',
        scorer: 'tiny/fp32',
        pairs: 2,
        meanSimilarity: 0.9,
        identicalPairs: 0,
        identicalScoreGap: 0,
        a: side,
        b: { ...side, model: 'tiny', source: 'fp32' },
        prompts: [],
      };
    },
    async writeConsistencyReport(input: { id: string }) {
      return { htmlPath: `/data/reports/${input.id}.html`, dataPath: `/data/reports/${input.id}.json` };
    },
    async downloadFile(input: { dest: string }) {
      return { bytes: 10, resumedFrom: verified.has(`${input.dest}#1`) ? 4 : 0, restarted: false, skipped: false };
    },
    async verifyFile(input: { dest: string }) {
      // The first file fails its first check (downloaded again), everything else verifies.
      const first = input.dest.endsWith('/a.zip') && !verified.has(`${input.dest}#1`);
      verified.add(`${input.dest}#1`);
      return first ? { ok: false, bytes: 9, sha256: '0'.repeat(64), problem: 'size 9, expected 10' } : { ok: true, bytes: 10, sha256: 'a'.repeat(64) };
    },
    async unpackArchive() {
      return { files: 2, skipped: false };
    },
    async convertRelease() {
      return { files: 2, skipped: 0, samples: 4, logprobs: 4 };
    },
    async recordAuditFiring(input: RecordFiringInput) {
      // The endpoint's verdict changed at this firing: one alert.
      const rows = input.results.map((r) => ({
        corpus: input.corpus,
        audit: input.audit,
        firingId: input.firingId,
        endpoint: r.endpoint,
        model: r.model,
        source: r.source,
        reference: r.reference,
        testId: r.outcome.testId,
        statistic: r.outcome.statistic,
        value: r.outcome.value,
        pValue: 0.001,
        alpha: r.outcome.alpha,
        n1: r.outcome.n1,
        n2: r.outcome.n2,
        m: r.outcome.m,
        reject: true,
        verdict: 'differs' as const,
        changed: true,
        confirmations: input.confirmations,
        promptTokens: 60,
        completionTokens: 24,
        ...(r.billing && input.maxBillingRatio
          ? { countedCompletionTokens: r.billing.countedCompletionTokens, billingRatio: 1.2, billingMaxRatio: input.maxBillingRatio }
          : {}),
      }));
      const alerts: AuditAlert[] = rows.map((r, i) => ({
        alertId: `${r.audit}/${r.firingId}/${r.endpoint}`,
        audit: r.audit,
        corpus: r.corpus,
        endpoint: r.endpoint,
        firingId: r.firingId,
        time: new Date(input.timeMs).toISOString(),
        from: 'consistent',
        to: 'differs',
        pValue: r.pValue,
        alpha: r.alpha,
        statistic: r.statistic,
        value: r.value,
        confirmations: r.confirmations,
        ...(input.results[i].identify ? { identify: input.results[i].identify } : {}),
      }));
      return { rows, alerts };
    },
    // An audit with identify asks first: the verdict turns to differs at this firing, so identify runs.
    async auditVerdicts(input: VerdictsInput) {
      return input.results.map((r) => ({ endpoint: r.endpoint, verdict: 'differs' as const, changed: true }));
    },
    async sendAuditAlert() {
      return { sent: true, status: 200 };
    },
    // The tracking tier: two probes; the firing is tested against its baseline and rejects.
    async planTrackingProbes() {
      return [
        { id: 'p0', text: 'a' },
        { id: 'p1', text: 'b' },
      ];
    },
    // Since 'tracking-precheck': the firing is asked as its baseline was, so it goes on to the probes.
    async checkTrackingSampling() {},
    async trackingOutcome(input: TrackingOutcomeInput) {
      return {
        outcome: {
          testId: input.testId,
          statistic: 'logprob_tracking',
          value: 0.9,
          pvalue: 0.001,
          reject: true,
          alpha: input.alpha,
          b: input.b,
          undefinedNulls: 0,
          n1: input.baselineFirings,
          n2: 1,
          m: input.probes.length,
          seconds: 0.01,
        },
        reference: `${input.endpoint}: its first ${input.baselineFirings} firings`,
        record: JSON.stringify({ role: 'test', topK: input.topK, probes: input.probes, answers: input.answers }),
      };
    },
  };
}

const batchPolls = new Map<string, number>();
export const sampling = {
  async sampleUnit(input: { runId: string; unit: WorkUnit; source: { kind: string } }) {
    if (input.runId === 'replay-fails' && input.unit.start === 2) {
      throw ApplicationFailure.create({ type: 'MetProviderAuth', nonRetryable: true, message: 'the provider refused the key (401): check the key variable' });
    }
    // A priced provider (the budget case) reports what its unit cost.
    const cost = input.runId === 'replay-budget' && input.source.kind === 'provider' ? { costUsd: 0.9 } : {};
    return {
      unitId: input.unit.unitId,
      rows: input.unit.end - input.unit.start,
      skipped: false,
      resumedFrom: 0,
      retries: input.unit.start === 0 ? { rate_limited: 1 } : {},
      seconds: 0.01,
      ...cost,
    };
  },
  /** The Batch API: one batch per unit, in progress at its first poll, completed at the second. */
  async submitBatch(input: { unit: WorkUnit }) {
    return { batchId: `batch_${input.unit.unitId}`, requests: input.unit.end - input.unit.start, samples: input.unit.end - input.unit.start, reused: false };
  },
  async pollBatch(input: { batchId: string }) {
    const polls = (batchPolls.get(input.batchId) ?? 0) + 1;
    batchPolls.set(input.batchId, polls);
    const status = polls >= 2 ? 'completed' : 'in_progress';
    return {
      batchId: input.batchId,
      status,
      total: 2,
      completed: polls >= 2 ? 2 : 0,
      failed: 0,
      outputFileId: polls >= 2 ? `file-${input.batchId}` : null,
      errorFileId: null,
    };
  },
  async collectBatch(input: { unit: WorkUnit }) {
    const size = input.unit.end - input.unit.start;
    return { journaled: size, added: size, unanswered: 0, malformed: 0 };
  },
  /** Every pending unit could cost 1 USD; each done one cost 0.5. */
  // The tracking tier's probes: one token with its top-2 logprobs per probe.
  async probeLogprobs(input: { probes: { id: string }[] }) {
    return {
      answers: input.probes.map(() => [
        ['x', -0.1],
        ['y', -2.4],
      ]),
      requests: input.probes.length,
      promptTokens: 2 * input.probes.length,
      completionTokens: input.probes.length,
      reportedUsage: input.probes.length,
    };
  },
  async quoteSource(input: { doneUnitIds: string[]; pending: { unitId: string }[] }) {
    return {
      prices: { inputPerMillion: 1, outputPerMillion: 2 },
      spentUsd: 0.5 * input.doneUnitIds.length,
      bounds: Object.fromEntries(input.pending.map((u) => [u.unitId, 1])),
    };
  },
};

export const scoring = {
  async scoreShard(input: { shard: SampleShardRef }) {
    return { unitId: input.shard.unitId, rows: input.shard.rows, tokens: 8, skipped: false, resumedFrom: 0 };
  },
  // The billing check: 12 tokens billed, 10 counted.
  async countBilledTokens() {
    return { samples: 6, reported: 6, reportedCompletionTokens: 12, countedCompletionTokens: 10 };
  },
  async scoreTexts(input: { model: string; precision: string; texts: string[] }) {
    return { model: input.model, precision: input.precision, texts: input.texts.map((t, i) => ({ sum: -2 - i, tokens: 2, bytes: Buffer.byteLength(t) })) };
  },
};
