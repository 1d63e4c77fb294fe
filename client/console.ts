import type { DuckDBInstance } from '@duckdb/node-api';
import type { Client } from '@temporalio/client';
import type { Prices } from '../collect/estimate';
import { ErrorTypes, MetError } from '../common/errors';
import { endpointLabel, type FiringIdentify, readFiringIdentify } from '../config/auditSpec';
import { readAuditRows } from '../datasets';
import { pResolution } from '../report/tables';
import { CPU_TASK_QUEUE, modelTaskQueue, providerTaskQueue } from '../temporal/queues';
import { describeAudit, listAudits, type AuditDescription } from './audits';
import { describeFleet, queuesOfRuns, type QueueState } from './fleet';
import { listRunRecords, runFailure, runState, runStatus, type RunRecord, type RunsAt, type RunState } from './runs';

/**
 * What the web console shows (api/console.ts serves it): audits with their firings, recent runs
 * with their live state, and the fleet with the queues that have work but no worker. Each call
 * reads Temporal and the data folder afresh: the console polls, nothing is cached here.
 */

export interface AuditFiring {
  firingId: string;
  time: Date;
  endpoint: string;
  pValue: number;
  value: number;
  reject: boolean;
  verdict: 'consistent' | 'differs';
  changed: boolean;
  n: number;
  /** Requests the firing sent the endpoint (its slice's, or a tracking tier's probes); null in rows before this was recorded. */
  requests: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  /** The billing check (audit spec `billing`): the claimed model's tokenizer count, billed over counted, and the threshold; null without one. */
  countedCompletionTokens: number | null;
  billingRatio: number | null;
  billingMaxRatio: number | null;
  /** USD at the provider's prices (the worker config's `prices`), null when tokens or prices are unknown. */
  costUsd: number | null;
  /** Attribution (audit spec `identify`) at the firing that turned the verdict to differs; null elsewhere. */
  identify: FiringIdentify | null;
}

export interface AuditEndpointState {
  endpoint: string;
  provider: string;
  verdict: 'consistent' | 'differs' | null;
  pValue: number | null;
  lastFiring: Date | null;
  firings: number;
  changes: number;
}

export interface AuditState {
  name: string;
  corpus: string;
  paused: boolean;
  note?: string;
  schedule: string;
  statistic: string;
  alpha: number;
  confirmations: number;
  /** Permutations per test, and the smallest p-value they resolve (a p-value of 0 means below it). */
  b: number;
  pFloor: number;
  running: number;
  nextFiring: Date | null;
  lastFiring: Date | null;
  endpoints: AuditEndpointState[];
  /** Oldest first, the last `limit` of them. */
  firings: AuditFiring[];
}

export interface ConsoleSources {
  client: Client;
  runs: RunsAt;
  duck: () => Promise<DuckDBInstance>;
  /** The folder holding a corpus's `audits` table (the data folder, or this host's cache of a bucket corpus). */
  readRoot: (corpus: string) => Promise<string>;
  /** Per provider name, what it bills (USD per million tokens). */
  prices?: Record<string, Prices>;
}

const cost = (prices: Prices | undefined, inTokens: number | null, outTokens: number | null) =>
  prices && inTokens !== null && outTokens !== null ? (inTokens * prices.inputPerMillion + outTokens * prices.outputPerMillion) / 1e6 : null;

export async function auditState(sources: ConsoleSources, d: AuditDescription, limit = 500): Promise<AuditState> {
  const rows = await readAuditRows(await sources.duck(), await sources.readRoot(d.spec.corpus), d.spec.corpus, d.name);
  const providerOf = new Map(d.spec.endpoints.map((e) => [endpointLabel(e), e.provider]));
  const endpoints = d.spec.endpoints.map((e): AuditEndpointState => {
    const label = endpointLabel(e);
    const mine = rows.filter((r) => r.endpoint === label);
    const last = mine.at(-1);
    return {
      endpoint: label,
      provider: e.provider,
      verdict: last?.verdict ?? null,
      pValue: last?.pValue ?? null,
      lastFiring: last?.time ?? null,
      firings: mine.length,
      changes: mine.filter((r) => r.changed).length,
    };
  });
  return {
    name: d.name,
    corpus: d.spec.corpus,
    paused: d.paused,
    note: d.note,
    schedule: 'interval' in d.spec.schedule ? `every ${d.spec.schedule.interval}` : `cron ${d.spec.schedule.cron} (UTC)`,
    statistic: d.spec.statistic,
    alpha: d.spec.alpha,
    confirmations: d.spec.confirmations,
    b: d.spec.b,
    pFloor: pResolution(d.spec.b),
    running: d.running,
    nextFiring: d.paused ? null : (d.next[0] ?? null),
    lastFiring: rows.at(-1)?.time ?? null,
    endpoints,
    firings: rows.slice(-limit).map((r) => ({
      firingId: r.firingId,
      time: r.time,
      endpoint: r.endpoint,
      pValue: r.pValue,
      value: r.value,
      reject: r.reject,
      verdict: r.verdict,
      changed: r.changed,
      n: r.n2,
      requests: r.requests ?? null,
      promptTokens: r.promptTokens,
      completionTokens: r.completionTokens,
      countedCompletionTokens: r.countedCompletionTokens ?? null,
      billingRatio: r.billingRatio ?? null,
      billingMaxRatio: r.billingMaxRatio ?? null,
      costUsd: cost(sources.prices?.[providerOf.get(r.endpoint) ?? ''], r.promptTokens, r.completionTokens),
      identify: readFiringIdentify(r.identify),
    })),
  };
}

const describeIfExists = (client: Client, name: string) =>
  describeAudit(client, name).catch((err: unknown) => (err instanceof MetError && err.type === ErrorTypes.NotFound ? undefined : Promise.reject(err)));

export async function auditStates(sources: ConsoleSources): Promise<AuditState[]> {
  const names = (await listAudits(sources.client)).map((a) => a.name);
  // An audit deleted between the list and its description is left out, not an error.
  const described = await Promise.all(names.map((name) => describeIfExists(sources.client, name)));
  return Promise.all(described.filter((d): d is AuditDescription => d !== undefined).map((d) => auditState(sources, d)));
}

/** Root causes of closed runs, by workflow id and close time: a closed execution's failure never changes, and polling would fetch it every time. */
const failures = new Map<string, string | undefined>();

/** The newest `limit` recorded runs, newest first, each with Temporal's view of it (progress for running ones). */
export async function recentRuns(client: Client, at: RunsAt, limit = 50): Promise<{ record: RunRecord; state: RunState }[]> {
  const records = (await listRunRecords(at)).slice(-limit).reverse();
  return Promise.all(
    records.map(async (record) => {
      // Only running and failed runs need more than a describe (progress, root cause).
      const status = await runStatus(client, record);
      if (status.status === 'RUNNING') return { record, state: await runState(client, record, 2000) };
      if (status.status !== 'FAILED') return { record, state: { ...status, warnings: [] } };
      const key = `${record.workflowId}@${status.closeTime?.toISOString()}`;
      if (!failures.has(key)) {
        if (failures.size >= 2000) failures.clear();
        failures.set(key, await runFailure(client, record));
      }
      return { record, state: { ...status, failure: failures.get(key), warnings: [] } };
    }),
  );
}

export interface FleetQueue extends QueueState {
  /** Running runs and active audits that send work to this queue. */
  neededBy: string[];
  /** Work is or will be waiting here and no worker polls it. */
  missing: boolean;
}

/** Every queue met knows of (its CPU queue, the runs', the audits', `extra`), who polls it, and who needs it. */
export async function fleetState(client: Client, at: RunsAt, extra: string[] = []): Promise<FleetQueue[]> {
  const records = await listRunRecords(at);
  const queues = queuesOfRuns(records);
  const add = (list: string[], q: string) => {
    if (!list.includes(q)) list.push(q);
  };
  const needed = new Map<string, Set<string>>();
  const need = (kind: 'workflow' | 'activity', q: string, who: string) => {
    add(kind === 'workflow' ? queues.workflow : queues.activity, q);
    const key = `${kind}:${q}`;
    needed.set(key, (needed.get(key) ?? new Set()).add(who));
  };
  for (const q of [CPU_TASK_QUEUE, ...extra]) {
    add(queues.workflow, q);
    add(queues.activity, q);
  }
  // Which runs are running: asked of the newest 200 only (one describe each, at every poll of the fleet view).
  const running = await Promise.all(records.slice(-200).map(async (r) => ((await runStatus(client, r)).status === 'RUNNING' ? r : undefined)));
  for (const r of running) {
    if (!r) continue;
    const of = queuesOfRuns([r]);
    // queuesOfRuns always adds met-cpu: only the run's own queues count as needed by it.
    for (const q of of.workflow) if (q === r.taskQueue) need('workflow', q, `run ${r.runId}`);
    for (const q of of.activity) if (q !== CPU_TASK_QUEUE || r.taskQueue === CPU_TASK_QUEUE) need('activity', q, `run ${r.runId}`);
  }
  for (const a of await listAudits(client)) {
    if (a.paused) continue;
    const d = await describeIfExists(client, a.name);
    if (!d) continue;
    const who = `audit ${a.name}`;
    need('workflow', d.taskQueue, who);
    need('activity', d.taskQueue, who);
    for (const e of d.spec.endpoints) need('activity', providerTaskQueue(e.provider), who);
    if (d.spec.reference?.kind === 'local') need('activity', modelTaskQueue(d.spec.reference.model, d.spec.reference.precision), who);
  }
  queues.workflow.sort();
  queues.activity.sort();
  const states = await describeFleet(client, queues);
  return states.map((s) => {
    const neededBy = [...(needed.get(`${s.kind}:${s.queue}`) ?? [])].sort();
    return { ...s, neededBy, missing: neededBy.length > 0 && s.pollers.length === 0 };
  });
}
