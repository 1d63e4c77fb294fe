import { type Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { AuditSpec, auditScheduleId } from '../config/auditSpec';
import { type AuditRow, readAuditRows } from '../datasets';
import { JOBS } from '../jobs';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { auditFiring } from '../workflows/auditFiring';

/**
 * Audits as Temporal Schedules (`met audit ...`): schedule `audit-<name>` starts workflow
 * auditFiring with the spec at every tick (one firing at a time: a firing still running when the
 * next is due makes the schedule skip that tick). The spec lives in the schedule's action.
 */
export async function createAudit(client: Client, spec: AuditSpec, options: { taskQueue?: string; paused?: boolean } = {}): Promise<string> {
  const scheduleId = auditScheduleId(spec.name);
  try {
    await client.schedule.create({
      scheduleId,
      spec: 'interval' in spec.schedule ? { intervals: [{ every: spec.schedule.interval as `${number}s` }] } : { cronExpressions: [spec.schedule.cron] },
      action: { type: 'startWorkflow', workflowType: auditFiring, workflowId: scheduleId, taskQueue: options.taskQueue ?? CPU_TASK_QUEUE, args: [{ spec }] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m', pauseOnFailure: false },
      state: { paused: options.paused ?? false, note: `met audit ${spec.name}` },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning)
      throw new MetError(ErrorTypes.BadInput, `audit '${spec.name}' exists already: met audit delete ${spec.name} first, or choose another name`);
    throw err;
  }
  return scheduleId;
}

export interface AuditSummary {
  name: string;
  scheduleId: string;
  paused: boolean;
  recent: { scheduledAt: Date; workflowId: string }[];
  next: Date[];
}

export async function listAudits(client: Client): Promise<AuditSummary[]> {
  const out: AuditSummary[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith('audit-') || s.action?.type !== 'startWorkflow' || s.action.workflowType !== JOBS.auditFiring.name) continue;
    out.push({
      name: s.scheduleId.slice('audit-'.length),
      scheduleId: s.scheduleId,
      paused: s.state.paused,
      recent: s.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt, workflowId: a.action.workflow.workflowId })),
      next: s.info.nextActionTimes,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function handle(client: Client, name: string) {
  return client.schedule.getHandle(auditScheduleId(name));
}

async function notFound<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new MetError(ErrorTypes.NotFound, `no audit '${name}' (met audit ls lists them)`);
    throw err;
  }
}

export interface AuditDescription extends AuditSummary {
  spec: AuditSpec;
  note?: string;
  /** The queue its firings run on (the schedule's action). */
  taskQueue: string;
  /** Firings running now. */
  running: number;
}

export async function describeAudit(client: Client, name: string): Promise<AuditDescription> {
  return notFound(name, async () => {
    const d = await handle(client, name).describe();
    const input = (d.action.args?.[0] ?? {}) as { spec?: unknown };
    return {
      name,
      scheduleId: d.scheduleId,
      paused: d.state.paused,
      note: d.state.note,
      spec: AuditSpec.parse(input.spec),
      taskQueue: d.action.taskQueue,
      running: d.info.runningActions.length,
      recent: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt, workflowId: a.action.workflow.workflowId })),
      next: d.info.nextActionTimes,
    };
  });
}

export const pauseAudit = (client: Client, name: string, note = 'paused by met audit pause') => notFound(name, () => handle(client, name).pause(note));
export const resumeAudit = (client: Client, name: string, note = 'resumed by met audit resume') => notFound(name, () => handle(client, name).unpause(note));
/** A firing now, besides the schedule's (skipped if one is running). */
export const triggerAudit = (client: Client, name: string) => notFound(name, () => handle(client, name).trigger(ScheduleOverlapPolicy.SKIP));
export const deleteAudit = (client: Client, name: string) => notFound(name, () => handle(client, name).delete());

/** The audit's history (its `audits` rows, oldest first) and the verdict changes among them. */
export async function auditHistory(duck: DuckDBInstance, dataDir: string, spec: AuditSpec): Promise<{ rows: AuditRow[]; changes: AuditRow[] }> {
  const rows = await readAuditRows(duck, dataDir, spec.corpus, spec.name);
  return { rows, changes: rows.filter((r) => r.changed) };
}

/** An alert whose webhook call has not succeeded (yet): being tried, or given up on. */
export interface UndeliveredAlert {
  alertId: string;
  workflowId: string;
  status: string;
  /** Tries so far and the webhook's last answer (running), or why it was given up (failed). */
  detail: string;
}

/**
 * Alerts of an audit whose delivery (deliverAuditAlert, started by each firing) has not
 * completed: `met audit show` lists them, so a dead webhook is seen, not silent. Looks at the
 * newest 2,000 deliveries.
 */
export async function undeliveredAlerts(client: Client, name: string): Promise<UndeliveredAlert[]> {
  const out: UndeliveredAlert[] = [];
  let seen = 0;
  const marker = `/alert-${name}/`;
  for await (const w of client.workflow.list({ query: `WorkflowType = 'deliverAuditAlert'` })) {
    if (++seen > 2000) break;
    const at = w.workflowId.indexOf(marker);
    if (at < 0 || !w.workflowId.startsWith(`${auditScheduleId(name)}-`) || w.status.name === 'COMPLETED') continue;
    const handle = client.workflow.getHandle(w.workflowId, w.runId);
    let detail = '';
    if (w.status.name === 'RUNNING') {
      const d = await handle.describe();
      const a = d.raw.pendingActivities?.[0];
      detail = a ? `try ${a.attempt ?? 1}${a.lastFailure?.message ? `; last answer: ${a.lastFailure.message}` : '; no answer yet'}` : 'waiting';
    } else {
      detail = await handle.result().then(
        () => '',
        (err: unknown) => {
          let cause: unknown = err;
          while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
          return cause instanceof Error ? cause.message : String(cause);
        },
      );
    }
    out.push({ alertId: w.workflowId.slice(at + '/alert-'.length), workflowId: w.workflowId, status: w.status.name, detail });
  }
  return out;
}
