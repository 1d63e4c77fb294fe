import type { DuckDBInstance } from '@duckdb/node-api';
import type { Client, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId, WorkflowStartOptions } from '@temporalio/client';
import { z } from 'zod';
import type { ProgressSnapshot, ProgressStage } from '../common/progress';
import type { ShardKind } from '../datasets/tables';
import type { PowerSectionInput, TestSectionInput } from '../report/schemas';

/**
 * What met knows of one kind of job (issue #31): its workflow type (part of every recorded history,
 * so it never changes), the zod schema of its input (run records are read back through it), how its
 * progress reads as stages, the queues it needs workers on, the corpus it touches and its report.
 * One module per kind in jobs/; jobs/index.ts holds the registry every caller asks.
 */
export interface JobKind<N extends string, I, R> {
  /** The workflow type, and the `job` of a run record. */
  readonly name: N;
  /** How messages name it ("a power grid run"). */
  readonly title: string;
  readonly input: z.ZodType<I>;
  /** Starts the workflow, typed by the workflow's own signature. */
  start(client: Client, options: JobStartOptions, input: I): Promise<WorkflowHandleWithFirstExecutionRunId<(input: I) => Promise<R>>>;
  /** A handle on a run of it, its result typed by the workflow. */
  handle(client: Client, workflowId: string): WorkflowHandle<(input: I) => Promise<R>>;
  /** The progress query's answer as stages (an answer of the wrong shape gives none). */
  stages(progress: unknown, inUnits?: UnitProgress): ProgressSnapshot;
  /** Activity queues the job needs a worker on, besides the run's own CPU queue. */
  queues(input: I): string[];
  /** The corpus the job reads or writes, if one. */
  corpus(input: I): string | undefined;
  /** Its report, when the kind has one (`met report`, `GET /v1/runs/:id/report`). */
  readonly report?: (ctx: ReportContext, run: { runId: string; input: I }) => Promise<JobReport>;
  /** Collections: the name of the activity whose heartbeats count samples not yet committed. */
  readonly unitActivity?: string;
  /** Collections: the budget, from the running progress or the completed result. */
  readonly budget?: (progress: unknown, result: unknown) => BudgetState | undefined;
}

export type JobStartOptions = Pick<WorkflowStartOptions, 'taskQueue' | 'workflowId' | 'workflowIdConflictPolicy' | 'workflowIdReusePolicy'>;

/** Samples (and tokens) done inside a run's running units, per `model/source`, from their heartbeats. */
export type UnitProgress = Map<string, { samples: number; tokens: number; units: number }>;

export interface BudgetState {
  usd: number;
  spentUsd: number;
  /** Running runs: what units in flight may still spend. */
  reservedUsd?: number;
  reached: boolean;
}

/** What writing a report needs from its caller (the CLI and the API each supply their own). */
export interface ReportContext {
  duck: DuckDBInstance;
  /** Reports are written under `<dataDir>/reports/<runId>/`. */
  dataDir: string;
  /** Where a corpus's files are read (a bucket corpus: this host's cache of it). */
  readRoot(corpus: string, kinds: readonly ShardKind[]): Promise<string>;
  /** The completed run's result (throws when it has not completed). */
  result(): Promise<unknown>;
}

export interface JobReport {
  htmlPath: string;
  /** The section the report shows, for callers that print it (a power table, a verdict). */
  section?: PowerSectionInput | TestSectionInput;
  /** A report written on a worker's host: the id of its copy in the bucket (`reports/<id>/`). */
  publishedId?: string;
}

/**
 * A job kind, its start typed by the workflow `W` it runs: the input schema must produce exactly
 * the workflow's input, so a record read back can only start the workflow with what it takes.
 */
export function defineJob<W extends (input: never) => Promise<unknown>>() {
  type I = Parameters<W>[0];
  type R = Awaited<ReturnType<W>>;
  return <N extends string>(kind: Omit<JobKind<N, I, R>, 'start' | 'handle'>): JobKind<N, I, R> => ({
    ...kind,
    start: (client, options, input) => client.workflow.start<(input: I) => Promise<R>>(kind.name, { ...options, args: [input] }),
    handle: (client, workflowId) => client.workflow.getHandle<(input: I) => Promise<R>>(workflowId),
  });
}

const Stage = z.object({
  name: z.string(),
  done: z.number(),
  total: z.number(),
  rate: z.number().optional(),
  errors: z.union([z.number(), z.record(z.string(), z.number())]).optional(),
  unit: z.string().optional(),
});
const Snapshot = z.object({ stages: z.array(Stage) });

/** The stages of a job that answers in met's one progress shape (common/progress.ts). */
export function snapshotStages(progress: unknown): ProgressSnapshot {
  const parsed = Snapshot.safeParse(progress);
  return { stages: parsed.success ? (parsed.data.stages satisfies ProgressStage[]) : [] };
}
