import {
  ChildWorkflowFailure,
  executeChild,
  isCancellation,
  ParentClosePolicy,
  patched,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { AuditActivities, AuditAlert, FiringResult } from '../activities/audits';
import type { BillingActivities } from '../activities/billing';
import type { TrackingActivities, TrackingProbeActivities } from '../activities/tracking';
import { NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';
import {
  type AuditSpec,
  billingTokenizer,
  type FiringIdentify,
  firingStamp,
  planFiring,
  planIdentify,
  planTracking,
  TRACKING_STATISTIC,
} from '../config/auditSpec';
import { identifyResult, type IdentifySpec } from '../config/identifySpec';
import { isOneSampleTestStatistic, type TestSpec } from '../config/testSpec';
import { modelTaskQueue, providerTaskQueue } from '../temporal/queues';
import { collectCorpus } from './collectCorpus';
import { deliverAuditAlert } from './deliverAuditAlert';
import { STEP_HEARTBEAT_TIMEOUT } from './heartbeat';
import { runTest } from './runTest';
import { scoreCorpus } from './scoreCorpus';

/**
 * auditFiring: one firing of an audit's Temporal Schedule (`met audit create`). Collects a fresh
 * slice from every endpoint (one child collectCorpus each, sources labelled `<source>.<stamp>`; a
 * local reference is sampled the same way), scores them under the scorer for a one-sample statistic
 * (child scoreCorpus), tests each against the reference (child runTest) and, with a billing check,
 * counts its completions with the claimed model's tokenizer (a model worker), appends one row per endpoint to the `audits` table, and alerts on each verdict that changed.
 */
const cpu = proxyActivities<AuditActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});
// Firings recorded before alerts had a workflow of their own: a webhook that is down is retried for
// about a day inside the firing. Newer firings start deliverAuditAlert instead (see below).
const alerts = proxyActivities<AuditActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '10m', maximumAttempts: 150, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});

export interface AuditFiringInput {
  spec: AuditSpec;
}

export interface AuditFiringResult {
  firingId: string;
  /** billingRatio: completion tokens billed over counted by the claimed model's tokenizer (a billing check only). */
  /** notRejected: the candidates not rejected, where this firing turned the verdict to differs (audit spec identify). */
  results: { endpoint: string; pValue: number; reject: boolean; verdict: string; changed: boolean; billingRatio?: number | null; notRejected?: string[] }[];
  /** sent: delivered within the firing (firings before deliverAuditAlert); queued: handed to its own deliverAuditAlert workflow. */
  alerts: { alertId: string; sent: boolean; queued?: boolean }[];
  /** Endpoints not tested at this firing: their slice reached its share of the audit's budget. */
  skipped?: { endpoint: string; reason: string }[];
}

const tracker = proxyActivities<TrackingActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT,
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
});

/** Each alert to its own deliverAuditAlert workflow (abandoned on close), so a slow webhook delays no firing (issue #28). */
async function queueAlerts(recorded: AuditAlert[]): Promise<{ alertId: string; sent: boolean; queued: boolean }[]> {
  const { workflowId } = workflowInfo();
  return Promise.all(
    recorded.map(async (a) => {
      await startChild(deliverAuditAlert, {
        workflowId: `${workflowId}/alert-${a.alertId}`,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        args: [{ alert: a }],
      });
      return { alertId: a.alertId, sent: false, queued: true };
    }),
  );
}

/**
 * A firing of the tracking tier (statistic logprob_tracking): no slices, no child workflows. The
 * probe set (CPU), ONE token with top-k logprobs per probe from each endpoint (its provider's queue,
 * where its key is), the test against the endpoint's own first firings (CPU, reading the audit's
 * rows), then the rows and alerts as for any firing.
 */
async function trackingFiring(spec: AuditSpec, startedAt: number): Promise<AuditFiringResult> {
  const info = workflowInfo();
  const plan = planTracking(spec, firingStamp(startedAt, info.runId));
  const probes = await tracker.planTrackingProbes({ prompts: spec.prompts, count: plan.tracking.probes, seed: spec.seed });
  const results: FiringResult[] = await Promise.all(
    plan.endpoints.map(async (e) => {
      const provider = proxyActivities<TrackingProbeActivities>({
        taskQueue: providerTaskQueue(e.provider.provider),
        startToCloseTimeout: '10m',
        heartbeatTimeout: STEP_HEARTBEAT_TIMEOUT,
        retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
      });
      const sampling = { endpoint: spec.sampling.endpoint, systemPrompt: spec.sampling.systemPrompt ?? null };
      // A firing its baseline would refuse (an edited spec) is refused before it spends a request per probe.
      // patched(): firings before it went straight to the probes.
      if (patched('tracking-precheck'))
        await tracker.checkTrackingSampling({
          corpus: spec.corpus,
          audit: spec.name,
          endpoint: e.endpoint,
          firingId: plan.firingId,
          timeMs: startedAt,
          baselineFirings: plan.tracking.baselineFirings,
          sampling,
        });
      const answered = await provider.probeLogprobs({
        source: e.provider,
        probes,
        topK: plan.tracking.topK,
        endpoint: spec.sampling.endpoint,
        ...(spec.sampling.systemPrompt ? { systemPrompt: spec.sampling.systemPrompt } : {}),
      });
      const tested = await tracker.trackingOutcome({
        corpus: spec.corpus,
        audit: spec.name,
        endpoint: e.endpoint,
        firingId: plan.firingId,
        timeMs: startedAt,
        testId: e.testId,
        topK: plan.tracking.topK,
        probes: probes.map((p) => p.id),
        answers: answered.answers,
        baselineFirings: plan.tracking.baselineFirings,
        alpha: spec.alpha,
        b: spec.b,
        seed: spec.seed,
        // Noted in the record, and a firing asked otherwise than the baseline is refused. patched(): firings before it never passed it.
        ...(patched('tracking-sampling') ? { sampling } : {}),
      });
      const reported = answered.reportedUsage > 0;
      return {
        endpoint: e.endpoint,
        model: e.model,
        source: e.source,
        reference: tested.reference,
        outcome: tested.outcome,
        tracking: {
          record: tested.record,
          requests: answered.requests,
          promptTokens: reported ? answered.promptTokens : null,
          completionTokens: reported ? answered.completionTokens : null,
        },
      };
    }),
  );
  const recorded = await cpu.recordAuditFiring({
    corpus: spec.corpus,
    audit: spec.name,
    firingId: plan.firingId,
    timeMs: startedAt,
    confirmations: spec.confirmations,
    results,
  });
  const sent = await queueAlerts(recorded.alerts);
  return {
    firingId: plan.firingId,
    results: recorded.rows.map((r) => ({ endpoint: r.endpoint, pValue: r.pValue, reject: r.reject, verdict: r.verdict, changed: r.changed })),
    alerts: sent,
  };
}

async function auditFiringSteps(input: AuditFiringInput): Promise<AuditFiringResult> {
  const { spec } = input;
  const info = workflowInfo();
  const startedAt = Date.now();
  // The tracking tier samples no slices. patched() only here: older firings never had this statistic.
  if (spec.statistic === TRACKING_STATISTIC && patched('audit-tracking')) return trackingFiring(spec, startedAt);
  // Firings started before the patch keep the stamp their children were started with (issue #28).
  const plan = planFiring(spec, firingStamp(startedAt, info.runId, patched('firing-stamp-tail') ? 'tail' : 'head'));
  // Every slice at once: the endpoints' queues (and a local reference's) work side by side.
  const collected = await Promise.all(
    plan.collections.map((c) => executeChild(collectCorpus, { workflowId: `${info.workflowId}/collect-${c.key}`, args: [{ spec: c.spec, runId: c.runId }] })),
  );
  // Only an audit with a budget can have a slice that stopped short (runs without one never return budget.reached).
  const short = new Set(collected.filter((r) => r.budget?.reached).map((r) => r.runId));
  const skipped = plan.tests
    .filter((t) => short.has(t.test.testId))
    .map((t) => ({
      endpoint: t.endpoint,
      reason: `budget reached: its slice stopped at its share of the audit's budget (${collected.find((r) => r.runId === t.test.testId)?.budget?.spentUsd.toFixed(4)} USD)`,
    }));
  // A one-sample test reads both slices' logprobs under the scorer: score this firing's fresh sources
  // first (a stored reference was scored before). patched() only here: older firings never had a one-sample statistic.
  if (spec.scorer && isOneSampleTestStatistic(spec.statistic) && patched('audit-one-sample')) {
    const sources = [
      ...plan.tests.filter((t) => !short.has(t.test.testId)).map((t) => t.source),
      ...plan.collections.filter((c) => c.key === 'reference').map(() => plan.reference.source),
    ];
    if (sources.length)
      await executeChild(scoreCorpus, { workflowId: `${info.workflowId}/score`, args: [{ corpus: spec.corpus, scorer: spec.scorer, sources }] });
  }
  const reference = `${plan.reference.corpus}:${plan.reference.model}/${plan.reference.source}`;
  // The billing check beside each test, on the claimed model's queue. patched() only here: older firings never had one.
  const tokenizer = billingTokenizer(spec);
  const billing =
    tokenizer && patched('audit-billing')
      ? proxyActivities<BillingActivities>({
          taskQueue: modelTaskQueue(tokenizer.model, tokenizer.precision),
          startToCloseTimeout: '30m',
          heartbeatTimeout: '2m',
          retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
        })
      : undefined;
  const tested = plan.tests.flatMap((t, i) => (short.has(t.test.testId) ? [] : [{ t, i }]));
  const results: FiringResult[] = await Promise.all(
    tested.map(async ({ t, i }) => {
      const [outcome, billed] = await Promise.all([
        executeChild(runTest, { workflowId: `${info.workflowId}/test-e${i}`, args: [t.test] }),
        billing && tokenizer ? billing.countBilledTokens({ corpus: spec.corpus, model: t.model, source: t.source, tokenizer }) : undefined,
      ]);
      return { endpoint: t.endpoint, model: t.model, source: t.source, reference, outcome, ...(billed ? { billing: billed } : {}) };
    }),
  );
  // Attribution: where this firing turns an endpoint's verdict to differs, its slice against every candidate
  // slice. patched() only here: older firings never had identify in their spec.
  if (spec.identify && results.length > 0 && patched('audit-identify')) {
    const verdicts = await cpu.auditVerdicts({
      corpus: spec.corpus,
      audit: spec.name,
      firingId: plan.firingId,
      timeMs: startedAt,
      confirmations: spec.confirmations,
      results: results.map((r) => ({ endpoint: r.endpoint, reject: r.outcome.reject })),
    });
    await Promise.all(
      tested.map(async ({ t, i }, k) => {
        const v = verdicts[k];
        const planned = planIdentify(spec, t.test);
        if (!planned || v.verdict !== 'differs' || !v.changed) return;
        results[k].identify = await identifyEndpoint(planned, (j) => `${info.workflowId}/identify-e${i}-c${j}`);
      }),
    );
  }
  // Every endpoint skipped (only with a budget): no row to record, no verdict to change.
  const recorded =
    results.length === 0 && skipped.length > 0
      ? { rows: [], alerts: [] }
      : await cpu.recordAuditFiring({
          corpus: spec.corpus,
          audit: spec.name,
          firingId: plan.firingId,
          timeMs: startedAt,
          confirmations: spec.confirmations,
          results,
          ...(billing && spec.billing ? { maxBillingRatio: spec.billing.maxRatio } : {}),
        });
  // The change is recorded (above); its webhook call runs on its own, so a slow webhook delays no firing (issue #28).
  const sent = patched('alerts-outside-firing')
    ? await queueAlerts(recorded.alerts)
    : await Promise.all(recorded.alerts.map(async (a: AuditAlert) => ({ alertId: a.alertId, sent: (await alerts.sendAuditAlert(a)).sent })));
  return {
    firingId: plan.firingId,
    results: recorded.rows.map((r, i) => ({
      endpoint: r.endpoint,
      pValue: r.pValue,
      reject: r.reject,
      verdict: r.verdict,
      changed: r.changed,
      ...(r.billingMaxRatio != null ? { billingRatio: r.billingRatio ?? null } : {}),
      ...(results[i]?.identify ? { notRejected: results[i].identify.notRejected } : {}),
    })),
    alerts: sent,
    ...(skipped.length ? { skipped } : {}),
  };
}

/**
 * One endpoint's identify: a child runTest per candidate (the runTest of `met identify` and
 * `met test`), Holm-corrected. A failed candidate test (a candidate slice missing, say) is recorded
 * as the identify's error rather than failing the firing: the firing's verdict still stands.
 */
async function identifyEndpoint(planned: { spec: IdentifySpec; tests: TestSpec[] }, workflowIdOf: (j: number) => string): Promise<FiringIdentify> {
  // Every candidate's test runs to its end (none is left to be terminated with the firing), then the failures, if any, are the error.
  const settled = await Promise.allSettled(planned.tests.map((test, j) => executeChild(runTest, { workflowId: workflowIdOf(j), args: [test] })));
  const failed = settled.flatMap((s, j) => (s.status === 'rejected' ? [{ j, err: s.reason as unknown }] : []));
  // A cancelled firing stays cancelled; only a candidate's failed test becomes the identify's error.
  for (const { err } of failed) if (!(err instanceof ChildWorkflowFailure) || isCancellation(err)) throw err;
  if (failed.length === 0)
    return identifyResult(
      planned.spec,
      settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])),
    );
  const why = failed.map(({ j, err }) => {
    const c = planned.spec.candidates[j];
    const root = (err as ChildWorkflowFailure).cause ?? (err as Error);
    return `${c.model}/${c.source}: ${root.message}`;
  });
  return {
    y: `${planned.spec.y.corpus}:${planned.spec.y.model}/${planned.spec.y.source}`,
    stat: planned.spec.stat,
    alpha: planned.spec.alpha,
    correction: 'holm',
    candidates: [],
    notRejected: [],
    error: `the test of ${failed.length} of ${planned.tests.length} candidates failed: ${why.join('; ')}`,
  };
}

/** The workflow: its steps, failing with their root cause (type and message) rather than "Activity task failed". */
export async function auditFiring(input: Parameters<typeof auditFiringSteps>[0]): ReturnType<typeof auditFiringSteps> {
  return withRootCause(() => auditFiringSteps(input));
}
