import type { DuckDBInstance } from '@duckdb/node-api';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorTypes, MetError } from '../common/errors';
import { toApplicationFailure } from '../common/failures';
import { type AuditVerdict, billingOver, type FiringIdentify, nextVerdict } from '../config/auditSpec';
import { type AuditRow, readAuditRows, readUsage } from '../datasets';
import { type Corpora, LocalCorpora } from '../datasets/corpora';
import { type BilledTokens, billingRatio } from './billing';
import type { TestOutcome } from './tests';
import { heartbeatingAll } from './heartbeat';

/**
 * Audit activities (CPU queue): append a firing's rows to the audit corpus's `audits` table with
 * the verdict after the multiple-looks rule, and send an alert for each verdict that changed. The
 * webhook URL is the worker's config (`alerts.webhookURL`), never the audit spec's.
 */
export interface FiringResult {
  endpoint: string;
  model: string;
  source: string;
  reference: string;
  outcome: TestOutcome;
  /** The billing check's counts of this firing's slice (audit spec `billing`). */
  billing?: BilledTokens;
  /**
   * The tracking tier (statistic logprob_tracking): no slice was sampled; the probes' record
   * (activities/tracking.ts TrackingRecord, JSON) and what they cost take the slice's usage's place.
   */
  tracking?: { record: string; requests: number; promptTokens: number | null; completionTokens: number | null };
  /** Attribution (audit spec `identify`): run where this firing turns the endpoint's verdict to differs. */
  identify?: FiringIdentify;
}

export interface RecordFiringInput {
  corpus: string;
  audit: string;
  firingId: string;
  timeMs: number;
  confirmations: number;
  results: FiringResult[];
  /** The billing check's threshold (audit spec billing.maxRatio): a ratio above it alerts. */
  maxBillingRatio?: number;
}

export interface AuditAlert {
  /** audit/firing/endpoint (a billing alert: .../billing): the same alert sent again (a retry) carries the same id. */
  alertId: string;
  /**
   * verdict: the verdict changed (from -> to). billing: the billing ratio went above maxRatio or came
   * back within it (`billing`); from and to are then the verdict, unchanged by it. Absent in alerts before billing ones.
   */
  kind?: 'verdict' | 'billing';
  billing?: { reportedCompletionTokens: number; countedCompletionTokens: number; ratio: number; maxRatio: number; over: boolean };
  audit: string;
  corpus: string;
  endpoint: string;
  firingId: string;
  time: string;
  from: AuditVerdict;
  to: AuditVerdict;
  pValue: number;
  alpha: number;
  statistic: string;
  value: number;
  confirmations: number;
  /** A verdict alert to differs of an audit with `identify`: which candidates the endpoint's slice is (not) told apart from. */
  identify?: FiringIdentify;
}

/** What auditVerdicts asks: the firing, and whether each endpoint's test rejected. */
export interface VerdictsInput {
  corpus: string;
  audit: string;
  firingId: string;
  timeMs: number;
  confirmations: number;
  results: { endpoint: string; reject: boolean }[];
}

/** Each endpoint's earlier rows (this firing's own left out, so a retry computes the same) and its verdict after this firing. */
function verdictsAfter(earlier: AuditRow[], input: Omit<VerdictsInput, 'corpus' | 'audit'>) {
  return input.results.map((r) => {
    const history = earlier.filter((e) => e.endpoint === r.endpoint && e.firingId !== input.firingId && e.time.getTime() <= input.timeMs);
    const previous: AuditVerdict = history.at(-1)?.verdict ?? 'consistent';
    const verdict = nextVerdict(history, r.reject, input.confirmations);
    return { endpoint: r.endpoint, previous, verdict, changed: verdict !== previous };
  });
}

export interface AlertConfig {
  webhookURL?: string;
  timeoutMs?: number;
}

export function createAuditActivities(deps: { duck: DuckDBInstance; dataDir: string; alerts?: AlertConfig; corpora?: Corpora }) {
  // A bucket corpus is read from this host's cache of it; the firing's shard is committed to it.
  const corpora = deps.corpora ?? new LocalCorpora(deps.duck, deps.dataDir);
  return heartbeatingAll({
    /**
     * The verdict each endpoint would get at this firing, before its row is written (read only): an
     * audit with `identify` runs the candidates' tests where it turns to differs, then records.
     */
    async auditVerdicts(input: VerdictsInput): Promise<{ endpoint: string; verdict: AuditVerdict; changed: boolean }[]> {
      try {
        const root = await corpora.readRoot(input.corpus, ['audits']);
        const earlier = await readAuditRows(deps.duck, root, input.corpus, input.audit);
        return verdictsAfter(earlier, input).map(({ endpoint, verdict, changed }) => ({ endpoint, verdict, changed }));
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /**
     * Writes the firing's shard (one row per endpoint) and returns the rows. Idempotent: a retry
     * recomputes the same verdicts (this firing's own rows are left out of the history) and the
     * shard is rewritten with the same content under the same unit id.
     */
    async recordAuditFiring(input: RecordFiringInput): Promise<{ rows: Omit<AuditRow, 'time' | 'tracking' | 'identify'>[]; alerts: AuditAlert[] }> {
      try {
        const root = await corpora.readRoot(input.corpus, ['audits', 'samples']);
        const earlier = (await readAuditRows(deps.duck, root, input.corpus, input.audit)).filter(
          (r) => r.firingId !== input.firingId && r.time.getTime() <= input.timeMs,
        );
        const time = new Date(input.timeMs);
        const usage = await Promise.all(
          input.results.map((r) =>
            r.tracking
              ? Promise.resolve({
                  reported: r.tracking.promptTokens === null ? 0 : 1,
                  promptTokens: r.tracking.promptTokens ?? 0,
                  completionTokens: r.tracking.completionTokens ?? 0,
                  requests: r.tracking.requests,
                })
              : readUsage(deps.duck, root, { corpus: input.corpus, model: r.model, source: r.source }),
          ),
        );
        const verdicts = verdictsAfter(earlier, { ...input, results: input.results.map((r) => ({ endpoint: r.endpoint, reject: r.outcome.reject })) });
        const rows: AuditRow[] = input.results.map((r, i) => {
          const u = usage[i];
          const { previous, verdict } = verdicts[i];
          return {
            corpus: input.corpus,
            audit: input.audit,
            firingId: input.firingId,
            time,
            endpoint: r.endpoint,
            model: r.model,
            source: r.source,
            reference: r.reference,
            testId: r.outcome.testId,
            statistic: r.outcome.statistic,
            value: r.outcome.value,
            pValue: r.outcome.pvalue,
            alpha: r.outcome.alpha,
            n1: r.outcome.n1,
            n2: r.outcome.n2,
            m: r.outcome.m,
            reject: r.outcome.reject,
            verdict,
            changed: verdict !== previous,
            confirmations: input.confirmations,
            promptTokens: u.reported > 0 ? u.promptTokens : null,
            completionTokens: u.reported > 0 ? u.completionTokens : null,
            ...billingColumns(r.billing, input.maxBillingRatio),
            requests: u.requests,
            ...(r.tracking ? { tracking: r.tracking.record } : {}),
            ...(r.identify ? { identify: JSON.stringify(r.identify) } : {}),
          };
        });
        await corpora.writeShard({ corpus: input.corpus, kind: 'audits', partition: {}, unitId: input.firingId }, rows);
        const common = (r: AuditRow) => ({
          audit: r.audit,
          corpus: r.corpus,
          endpoint: r.endpoint,
          firingId: r.firingId,
          time: time.toISOString(),
          pValue: r.pValue,
          alpha: r.alpha,
          statistic: r.statistic,
          value: r.value,
          confirmations: r.confirmations,
        });
        // A billing alert when the ratio crosses maxRatio (either way), like a verdict's: one per change, not one per firing.
        const billingAlerts: AuditAlert[] = rows.flatMap((r) => {
          const over = billingOver(r);
          const before = earlier.filter((e) => e.endpoint === r.endpoint).at(-1);
          if (over === undefined || over === (before ? billingOver(before) === true : false)) return [];
          return [
            {
              alertId: `${r.audit}/${r.firingId}/${r.endpoint}/billing`,
              kind: 'billing' as const,
              ...common(r),
              from: r.verdict,
              to: r.verdict,
              billing: {
                reportedCompletionTokens: r.completionTokens ?? 0,
                countedCompletionTokens: r.countedCompletionTokens ?? 0,
                ratio: r.billingRatio ?? 0,
                maxRatio: r.billingMaxRatio ?? 0,
                over,
              },
            },
          ];
        });
        const verdictAlerts: AuditAlert[] = rows
          .map((r, i) => ({ r, identify: input.results[i].identify }))
          .filter(({ r }) => r.changed)
          .map(({ r, identify }) => ({
            alertId: `${r.audit}/${r.firingId}/${r.endpoint}`,
            kind: 'verdict' as const,
            audit: r.audit,
            corpus: r.corpus,
            endpoint: r.endpoint,
            firingId: r.firingId,
            time: time.toISOString(),
            from: r.verdict === 'differs' ? 'consistent' : 'differs',
            to: r.verdict,
            pValue: r.pValue,
            alpha: r.alpha,
            statistic: r.statistic,
            value: r.value,
            confirmations: r.confirmations,
            ...(identify && r.verdict === 'differs' ? { identify } : {}),
          }));
        // The tracking record and the identify result stay in the table: the firing's history needs only the verdicts.
        return { rows: rows.map(({ time: _t, tracking: _k, identify: _i, ...rest }) => rest), alerts: [...verdictAlerts, ...billingAlerts] };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /**
     * POSTs one alert as JSON to the worker's webhook, with an `Idempotency-Key` (the alert id).
     * No webhook configured: nothing is sent (the change is still in the audits table). Network
     * errors, 408, 429 and 5xx are retried by Temporal; other 4xx fail the alert at once.
     */
    async sendAuditAlert(alert: AuditAlert): Promise<{ sent: boolean; status?: number }> {
      const url = deps.alerts?.webhookURL;
      if (!url) return { sent: false };
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': alert.alertId, 'user-agent': 'met-audit' },
          body: JSON.stringify(alert),
          redirect: 'error',
          signal: AbortSignal.timeout(deps.alerts?.timeoutMs ?? 10_000),
        });
      } catch (err) {
        throw ApplicationFailure.create({
          type: 'MetAlertUnreachable',
          message: `the alert webhook did not answer: ${(err as Error).message}`,
          nonRetryable: false,
        });
      }
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { sent: true, status: res.status };
      const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
      if (!retryable) throw toApplicationFailure(new MetError(ErrorTypes.BadInput, `the alert webhook refused the alert (HTTP ${res.status})`));
      throw ApplicationFailure.create({ type: 'MetAlertFailed', message: `the alert webhook answered HTTP ${res.status}`, nonRetryable: false });
    },
  });
}
export type AuditActivities = ReturnType<typeof createAuditActivities>;

/** A row's billing columns: only with a billing check, and the ratio only where the endpoint reported tokens. */
function billingColumns(
  b: BilledTokens | undefined,
  maxRatio: number | undefined,
): Pick<AuditRow, 'countedCompletionTokens' | 'billingRatio' | 'billingMaxRatio'> {
  if (!b || maxRatio === undefined) return {};
  const ratio = billingRatio(b);
  return { countedCompletionTokens: ratio === null ? null : b.countedCompletionTokens, billingRatio: ratio, billingMaxRatio: maxRatio };
}
