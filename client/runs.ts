import { defaultPayloadConverter } from '@temporalio/common';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { PROGRESS_QUERY } from '../common/progress';
import { join } from 'node:path';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { writeFileAtomic } from '../common/files';
import { checkName } from '../common/names';
import { parseDataLocation } from '../common/location';
import { collectProgress, corpusOf, JOBS, type Job, RunRecord, startJob, type UnitProgress } from '../jobs';
import { CPU_TASK_QUEUE } from '../temporal/queues';

export { RunRecord, type UnitProgress };

/**
 * The run registry: every long job met launches (collection, scoring, power grids, downloads) is
 * recorded as `<data>/runs/<runId>.json` with its workflow type and input. `met resume` starts the
 * job again from that record, so it works even when the workflow's history is gone; the job
 * itself re-plans from the shards on disk and redoes only what is missing.
 */
// The record's shape (a variant per kind of job, its input checked by the kind's schema) is jobs/index.ts's RunRecord.

/**
 * Where run records live: `<data>/runs/` of a data folder, or `<prefix>/runs/` of the bucket of
 * `--data s3://bucket/prefix`, so that `met runs` and `met status` on any host see every run.
 * A plain string is a data folder (what every caller passed before records could be in a bucket).
 */
export type RunsAt = string | { dataDir: string; corpora?: string; cacheDir?: string };

const runsDir = (dataDir: string) => join(dataDir, 'runs');
// Every run id from outside (CLI, API, a spec) passes the one name rule before it becomes a path.
const recordPath = (dataDir: string, runId: string) => join(runsDir(dataDir), `${checkName('run id', runId)}.json`);

/** The bucket holding run records, or undefined for a data folder (the AWS SDK is loaded only for a bucket: met status stays fast). */
async function bucketOf(at: RunsAt): Promise<import('../datasets/corpora').BucketDocuments | undefined> {
  if (typeof at === 'string' || !at.corpora) return undefined;
  const location = parseDataLocation(at.corpora);
  if (location.kind !== 's3') return undefined;
  const { BucketDocuments, s3ClientFromEnv } = await import('../datasets/corpora');
  return new BucketDocuments(s3ClientFromEnv(), location);
}
/** The page of a report published to the bucket (`reports/<id>/index.html`, Corpora.publishFiles); undefined for a folder or when absent. */
export async function readPublishedReport(at: RunsAt, reportId: string, file: 'index.html' | 'report.json' = 'index.html'): Promise<string | undefined> {
  const bucket = await bucketOf(at);
  return bucket?.readText(`reports/${checkName('report id', reportId)}/${file}`);
}

const folderOf = (at: RunsAt) => (typeof at === 'string' ? at : at.dataDir);

/** Parsed record bytes, or undefined when they are not a readable run record (they are never shown). */
function parseRecord(value: unknown): RunRecord | undefined {
  const parsed = RunRecord.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** A record file, or undefined when it is not a readable run record. */
function readRecord(path: string): RunRecord | undefined {
  try {
    return parseRecord(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return undefined;
  }
}

export async function saveRunRecord(at: RunsAt, record: RunRecord): Promise<void> {
  checkName('run id', record.runId);
  const bucket = await bucketOf(at);
  if (bucket) {
    await bucket.writeJson(`runs/${record.runId}.json`, record);
    return;
  }
  writeFileAtomic(recordPath(folderOf(at), record.runId), JSON.stringify(record, null, 2));
}

/** The record of a run; a bad run id throws at once (before any I/O). */
export function loadRunRecord(at: RunsAt, runId: string): Promise<RunRecord> {
  checkName('run id', runId);
  // Messages name the run id only: never the data folder's path, other runs or the file's bytes.
  const notFound = () => new MetError(ErrorTypes.NotFound, `no run '${runId}' is recorded (see 'met runs')`);
  const unreadable = () => new MetError(ErrorTypes.ShardCorrupt, `the record of run '${runId}' is unreadable: launch the run again from its spec`);
  if (typeof at !== 'string' && at.corpora) {
    return bucketOf(at)
      .then((bucket) => bucket!.readJson(`runs/${runId}.json`))
      .then(
        (value) => {
          if (value === undefined) throw notFound();
          const record = parseRecord(value);
          if (!record || record.runId !== runId) throw unreadable();
          return record;
        },
        (err: unknown) => {
          if (err instanceof SyntaxError) throw unreadable();
          throw err;
        },
      );
  }
  const path = recordPath(folderOf(at), runId);
  if (!existsSync(path)) return Promise.reject(notFound());
  const record = readRecord(path);
  if (!record || record.runId !== runId) return Promise.reject(unreadable());
  return Promise.resolve(record);
}

export async function listRunRecords(at: RunsAt): Promise<RunRecord[]> {
  const bucket = await bucketOf(at);
  let records: RunRecord[];
  if (bucket) {
    const names = await bucket.listJson('runs');
    const read = await Promise.all(names.map((name) => bucket.readJson(`runs/${name}`).catch(() => undefined)));
    records = read.flatMap((value) => {
      const r = parseRecord(value);
      return r ? [r] : [];
    });
  } else {
    const dataDir = folderOf(at);
    if (!existsSync(runsDir(dataDir))) return [];
    records = readdirSync(runsDir(dataDir))
      .filter((f) => f.endsWith('.json'))
      .flatMap((f) => {
        const r = readRecord(join(runsDir(dataDir), f));
        return r ? [r] : [];
      });
  }
  return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/**
 * Starts the job's workflow, or attaches to it when it already runs (same deterministic id).
 * A failed, cancelled or terminated run of the same id is started anew (that is `met resume`).
 */
export async function startOrAttach(client: Client, record: RunRecord): Promise<{ attached: boolean }> {
  try {
    const current = await client.workflow.getHandle(record.workflowId).describe();
    if (current.status.name === 'RUNNING') return { attached: true };
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  // USE_EXISTING makes a concurrent second launch attach instead of failing or duplicating.
  await startJob(
    client,
    { taskQueue: record.taskQueue, workflowId: record.workflowId, workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'ALLOW_DUPLICATE' },
    record,
  );
  return { attached: false };
}

export interface RunStatus {
  record: RunRecord;
  status: string;
  startTime?: Date;
  closeTime?: Date;
}

export async function runStatus(client: Client, record: RunRecord): Promise<RunStatus> {
  try {
    const handle = client.workflow.getHandle(record.workflowId);
    const d = await handle.describe();
    // A run cancelled while an activity ran can close as FAILED with the cancellation as its cause:
    // that is a cancelled run, and it is shown as one (not 'FAILED CancelledFailure:').
    const cancelled = d.status.name === 'FAILED' && (await handle.result().then(() => false, isCancellation));
    return { record, status: cancelled ? 'CANCELLED' : d.status.name, startTime: d.startTime, closeTime: d.closeTime };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { record, status: 'NOT_FOUND (history gone; met resume restarts it)' };
    throw err;
  }
}

/** The record of a new run of a job; the corpus it touches is the job's to say (jobs/). */
export function newRunRecord(job: Job, runId: string, extra: { taskQueue?: string } = {}): RunRecord {
  return {
    ...job,
    runId,
    workflowId: `${job.job}/${runId}`,
    taskQueue: extra.taskQueue ?? CPU_TASK_QUEUE,
    createdAt: new Date().toISOString(),
    corpus: corpusOf(job),
  };
}

/** What Temporal says about a run now (see runState). */
export interface RunState extends RunStatus {
  /** The job's 'progress' query answer; asked of running runs only. */
  progress?: unknown;
  /** A failed run's root cause, `Type: message`. */
  failure?: string;
  /** A completed run's result (a collection's rows and, with a budget, what it spent and whether it stopped there). */
  result?: unknown;
  /** Why a running run makes no progress: unpolled queues, steps being retried. */
  warnings: string[];
  /** A running collection's samples inside its running units (not yet committed), per model/source. */
  inUnits?: UnitProgress;
}

/**
 * A run's live state, for `met status` and `GET /v1/runs/:id`. Only a running run is queried for
 * progress: a closed one would answer only after a worker replayed its history, which is what made
 * `met status` of a completed run take half a minute. Queries give up after `queryMs`.
 */
export async function runState(client: Client, record: RunRecord, queryMs = 3000): Promise<RunState> {
  const status = await runStatus(client, record);
  if (status.status === 'FAILED') return { ...status, failure: await runFailure(client, record), warnings: [] };
  if (status.status === 'COMPLETED') {
    const result: unknown = await client.withDeadline(Date.now() + queryMs, () => client.workflow.getHandle(record.workflowId).result()).catch(() => undefined);
    return { ...status, result, warnings: [] };
  }
  if (status.status !== 'RUNNING') return { ...status, warnings: [] };
  const handle = client.workflow.getHandle(record.workflowId);
  const progress = await client.withDeadline(Date.now() + queryMs, () => handle.query(PROGRESS_QUERY)).catch(() => undefined);
  const warnings = [...(await missingWorkers(client, record, progress)), ...(await retryingSteps(client, record))];
  const inUnits = await client.withDeadline(Date.now() + queryMs, () => unitProgress(client, record)).catch(() => undefined);
  return { ...status, progress, warnings, ...(inUnits?.size ? { inUnits } : {}) };
}

/** A closed run's failure as "Type: message" of its root cause (what to fix), or undefined. */
export async function runFailure(client: Client, record: RunRecord): Promise<string | undefined> {
  return client.workflow
    .getHandle(record.workflowId)
    .result()
    .then(
      () => undefined,
      (err: unknown) => rootCauseText(err),
    );
}

/**
 * Whether a failure is, or was caused by, a cancellation: a CancelledFailure, or the application
 * failure of type 'CancelledFailure' a workflow closes with when the cancellation reached it
 * through an activity or a child.
 */
export function isCancellation(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof CancelledFailure || (e as { type?: unknown }).type === 'CancelledFailure') return true;
  }
  return false;
}

/**
 * The innermost cause of a failure (a workflow's, an activity's) as "Type: message": what the user
 * fixes, never "Workflow execution failed". Every place that reports a failed run says it this way.
 */
export function rootCauseText(err: unknown): string {
  let cause: unknown = err;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  const type = (cause as { type?: string | null }).type;
  const message = cause instanceof Error ? cause.message : String(cause);
  return type ? `${type}: ${message}` : message;
}

/**
 * What a running run waits for in vain: the queues it needs that no worker polls (the workflow's
 * own queue, and each source's queue as its progress names them). Said within seconds, instead of
 * a run that sits at 0% forever.
 */
export async function missingWorkers(client: Client, record: RunRecord, progress?: unknown): Promise<string[]> {
  const namespace = client.options.namespace;
  const polled = async (name: string, type: 1 | 2) => {
    const r = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name }, taskQueueType: type });
    return (r.pollers ?? []).length > 0;
  };
  const out: string[] = [];
  if (!(await polled(record.taskQueue, 1)))
    out.push(`no worker polls ${record.taskQueue} (workflows): start one with met worker --queue ${record.taskQueue}, or met up`);
  // A collection's progress names each source's queue; other jobs answer without sources.
  const sources = collectProgress(progress)?.sources ?? [];
  const queues = new Map<string, string[]>();
  for (const s of sources) if (s.done < s.total) queues.set(s.taskQueue, [...(queues.get(s.taskQueue) ?? []), `${s.model}/${s.source}`]);
  for (const [queue, names] of queues) {
    if (!(await polled(queue, 2)))
      out.push(`no worker polls ${queue} (${names.join(', ')}): start the worker that serves it (met worker --provider NAME or --model FILE --precision P)`);
  }
  return out;
}

/**
 * Steps of a running run that are being retried, with their attempt and last failure: a run that
 * retries in vain (a full disk, a provider that keeps failing) says why while it still runs.
 * Looks through the run's tree of workflows (child workflows such as batch units, an audit
 * firing's collections and tests), and says when a workflow's own task keeps failing.
 */
export async function retryingSteps(client: Client, record: RunRecord, limit = 5): Promise<string[]> {
  const out: string[] = [];
  // Breadth-first over at most 20 workflows, so a wide tree still answers within seconds.
  const queue: { workflowId: string; runId?: string; label: string }[] = [{ workflowId: record.workflowId, label: '' }];
  for (let seen = 0; queue.length > 0 && seen < 20 && out.length < limit; seen++) {
    const { workflowId, runId, label } = queue.shift()!;
    const d = await client.workflow
      .getHandle(workflowId, runId)
      .describe()
      .catch(() => undefined);
    if (!d || d.status.name !== 'RUNNING') continue;
    const task = d.raw.pendingWorkflowTask;
    if ((task?.attempt ?? 1) > 1)
      out.push(`${label}the workflow's own task has failed ${task!.attempt! - 1} time(s) and is retried (see the worker's log; met cancel ends the run)`);
    for (const a of d.raw.pendingActivities ?? []) {
      if ((a.attempt ?? 1) <= 1 || !a.lastFailure?.message) continue;
      let failure = a.lastFailure;
      while (failure.cause?.message) failure = failure.cause;
      const type = failure.applicationFailureInfo?.type;
      out.push(`${label}${a.activityType?.name ?? 'a step'} is on attempt ${a.attempt}; last failure: ${type ? `${type}: ` : ''}${failure.message}`);
    }
    for (const c of d.raw.pendingChildren ?? []) {
      if (c.workflowId)
        queue.push({ workflowId: c.workflowId, runId: c.runId ?? undefined, label: `${label}${c.workflowTypeName ?? 'child'} ${c.workflowId}: ` });
    }
  }
  return out.slice(0, limit);
}

/** How `met cancel` ended a run. */
export interface CancelOutcome {
  /** The run's status afterwards (CANCELED, TERMINATED, COMPLETED, ...). */
  status: string;
  /** True when cancellation did not end it within the wait and it was terminated. */
  terminated: boolean;
  /** Why it was terminated (also the termination's reason in Temporal). */
  reason?: string;
}

/**
 * Cancels a run, and terminates it when it has not stopped within `waitMs`: a run whose workflow
 * task keeps failing (or that no worker serves) never sees a cancellation request, and `met
 * cancel` must end it all the same (issue #28). Completed shards are kept either way.
 */
export async function cancelRun(client: Client, record: RunRecord, waitMs = 15_000): Promise<CancelOutcome> {
  const handle = client.workflow.getHandle(record.workflowId);
  const before = await handle.describe();
  if (before.status.name !== 'RUNNING') return { status: before.status.name, terminated: false };
  await handle.cancel();
  const deadline = Date.now() + waitMs;
  for (;;) {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') return { status: d.status.name, terminated: false };
    if (Date.now() >= deadline) {
      const attempt = d.raw.pendingWorkflowTask?.attempt ?? 0;
      const why = attempt > 1 ? `its workflow task has failed ${attempt - 1} time(s)` : 'no worker acted on the request';
      const reason = `met cancel: the run did not stop within ${Math.round(waitMs / 1000)} s of the cancellation request (${why}); terminated`;
      await handle.terminate(reason);
      return { status: 'TERMINATED', terminated: true, reason };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

const UnitBeat = z.object({ sampled: z.number().int().nonnegative(), tokens: z.number().int().nonnegative(), model: z.string(), source: z.string() });

/**
 * What the collection's running units have sampled but not yet committed (a unit's samples count in
 * the workflow's progress only when its shard is committed): read from the heartbeat details of its
 * pending sampleUnit activities, so progress moves from the first sample. Heartbeats of earlier met
 * versions carry no such fields and count as nothing.
 */
export async function unitProgress(client: Client, record: RunRecord): Promise<UnitProgress> {
  const out: UnitProgress = new Map();
  const activity = JOBS[record.job].unitActivity;
  if (!activity) return out;
  const d = await client.workflow.getHandle(record.workflowId).describe();
  for (const a of d.raw.pendingActivities ?? []) {
    if (a.activityType?.name !== activity) continue;
    const payload = a.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    let decoded: unknown;
    try {
      decoded = defaultPayloadConverter.fromPayload(payload);
    } catch {
      continue;
    }
    const beat = UnitBeat.safeParse(decoded);
    if (!beat.success) continue;
    const key = `${beat.data.model}/${beat.data.source}`;
    const was = out.get(key) ?? { samples: 0, tokens: 0, units: 0 };
    out.set(key, { samples: was.samples + beat.data.sampled, tokens: was.tokens + beat.data.tokens, units: was.units + 1 });
  }
  return out;
}
