import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { Name } from '../common/names';
import type { ProgressSnapshot } from '../common/progress';
import { audit } from './audit';
import { collect } from './collect';
import { consistency } from './consistency';
import { download } from './download';
import type { JobKind, JobReport, JobStartOptions, ReportContext, UnitProgress } from './job';
import { perplexity } from './perplexity';
import { power } from './power';
import { score } from './score';
import { test } from './test';

export { collectProgress } from './collect';
export type { BudgetState, JobKind, JobReport, JobStartOptions, ReportContext, UnitProgress } from './job';

/**
 * The registry of job kinds (issue #31): the CLI, the API, the fleet view and reports ask it what a
 * job needs, shows and reports, instead of comparing workflow names. A new kind is one module here
 * (its workflow and activities beside it), listed in KINDS.
 */
const KINDS = {
  collectCorpus: collect,
  scoreCorpus: score,
  runTest: test,
  powerSimulation: power,
  downloadDataset: download,
  consistencyReport: consistency,
  ensembledPerplexity: perplexity,
  auditFiring: audit,
};

type Kinds = typeof KINDS;
export type JobName = keyof Kinds;
type InputOf<K extends JobName> = Kinds[K] extends JobKind<K, infer I, infer _R> ? I : never;
type ResultOf<K extends JobName> = Kinds[K] extends JobKind<K, infer _I, infer R> ? R : never;
/** Each kind under its own name, typed so that a kind's functions take its own input (TypeScript's correlated unions). */
type Registry = { [K in JobName]: JobKind<K, InputOf<K>, ResultOf<K>> };
export const JOBS: Registry = KINDS;
export const JOB_NAMES = Object.keys(KINDS) as JobName[];

/** A job of one kind with its input: what a run record holds and what a start takes. */
export type Job<K extends JobName = JobName> = { [P in K]: { job: P; input: InputOf<P> } }[K];

const RecordBase = z.object({
  runId: Name,
  workflowId: z.string().min(1),
  taskQueue: z.string().min(1),
  createdAt: z.string(),
  corpus: z.string().optional(),
});
const recordOf = <K extends JobName>(kind: JobKind<K, InputOf<K>, ResultOf<K>>) => RecordBase.extend({ job: z.literal(kind.name), input: kind.input });

/**
 * A run record (`<data>/runs/<runId>.json`, client/runs.ts): one variant per kind of job, its input
 * read back through the kind's schema, so `met resume` starts a workflow only with what it takes.
 */
export const RunRecord = z.discriminatedUnion('job', [
  recordOf(JOBS.collectCorpus),
  recordOf(JOBS.scoreCorpus),
  recordOf(JOBS.runTest),
  recordOf(JOBS.powerSimulation),
  recordOf(JOBS.downloadDataset),
  recordOf(JOBS.consistencyReport),
  recordOf(JOBS.ensembledPerplexity),
  recordOf(JOBS.auditFiring),
]);
export type RunRecord = z.infer<typeof RunRecord>;
// Every kind in the registry has its variant: this line stops compiling when one is missing above.
const everyKindRecorded: [Exclude<JobName, RunRecord['job']>] extends [never] ? true : never = true;
void everyKindRecorded;

export function startJob<K extends JobName>(client: Client, options: JobStartOptions, job: Job<K>) {
  return JOBS[job.job].start(client, options, job.input);
}

/** A run's result, typed by its kind's workflow (waits for the run to close). */
export function resultOf<K extends JobName>(client: Client, run: Job<K> & { workflowId: string }): Promise<ResultOf<K>> {
  return JOBS[run.job].handle(client, run.workflowId).result();
}

/** The stages of a job's progress answer (none for an answer of another shape). */
export function toStages(job: JobName, progress: unknown, inUnits?: UnitProgress): ProgressSnapshot {
  return progress ? JOBS[job].stages(progress, inUnits) : { stages: [] };
}

/** Activity queues a job needs a worker on. */
export function queuesOf<K extends JobName>(job: Job<K>): string[] {
  return JOBS[job.job].queues(job.input);
}

export function corpusOf<K extends JobName>(job: Job<K>): string | undefined {
  return JOBS[job.job].corpus(job.input);
}

/** Whether a kind has a report. */
export function hasReport(job: JobName): boolean {
  return JOBS[job].report !== undefined;
}

/** Titles of the kinds that have a report, for messages ("power grid, test, consistency"). */
export const REPORTED = JOB_NAMES.filter(hasReport).map((name) => JOBS[name].title);

/** The run's report, or undefined when its kind has none. */
export function reportOf<K extends JobName>(ctx: ReportContext, run: Job<K> & { runId: string }): Promise<JobReport> | undefined {
  return JOBS[run.job].report?.(ctx, { runId: run.runId, input: run.input });
}

/** Narrows a record to one kind ("is this a collection run?"). */
export function isJob<K extends JobName>(record: RunRecord, kind: K): record is Extract<RunRecord, { job: K }> {
  return record.job === kind;
}
