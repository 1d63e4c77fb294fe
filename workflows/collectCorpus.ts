import {
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  defineQuery,
  executeChild,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import { PROGRESS_QUERY } from '../common/progress';
import type { BudgetActivities, Quote } from '../activities/budget';
import type { CollectActivities } from '../activities/collect';
import type { SamplingActivities, UnitResult } from '../activities/sampling';
import { ErrorTypes, NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';
import type { RunSpec } from '../config/runSpec';
import { type CollectResult, planSources, type SourceShape, sourceShapes, unitAt, type WorkUnit } from '../collect/plan';
import { batchUnit } from './batchUnit';
import { stepHeartbeatMs } from './heartbeat';

export type { CollectResult } from '../collect/plan';

/**
 * collectCorpus: samples every (source, prompt, sample index) of a run spec exactly once. Units
 * run through a sliding window per source on that source's task queue; each unit writes one
 * Parquet shard atomically, so the shards on disk are the record of what is done: a retried unit,
 * a continued-as-new run and `met resume` all re-plan from them.
 */
// CPU steps run on the workflow's own queue (met-cpu, or a test's queue).
// They heartbeat on a timer (workflows/heartbeat.ts says why they need a heartbeat timeout).
function cpuSteps(spec: RunSpec) {
  return proxyActivities<CollectActivities>({
    startToCloseTimeout: '10m',
    heartbeatTimeout: stepHeartbeatMs(spec.heartbeatTimeoutSeconds),
    retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
  });
}

function sampler(taskQueue: string, heartbeatTimeoutSeconds: number, noWorkerTimeoutSeconds?: number) {
  // A unit heartbeats while its worker lives; a silent worker (killed, hung) is retried elsewhere.
  return proxyActivities<SamplingActivities>({
    taskQueue,
    startToCloseTimeout: '2h',
    heartbeatTimeout: heartbeatTimeoutSeconds * 1000,
    // Set by the spec: a queue no worker takes a unit from within this time fails the run (see below).
    ...(noWorkerTimeoutSeconds ? { scheduleToStartTimeout: noWorkerTimeoutSeconds * 1000 } : {}),
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '2m',
      maximumAttempts: 25,
      nonRetryableErrorTypes: NON_RETRYABLE_TYPES,
    },
  });
}

function quoter(taskQueue: string, heartbeatMs: number, noWorkerTimeoutSeconds?: number) {
  return proxyActivities<BudgetActivities>({
    taskQueue,
    startToCloseTimeout: '10m',
    heartbeatTimeout: heartbeatMs,
    ...(noWorkerTimeoutSeconds ? { scheduleToStartTimeout: noWorkerTimeoutSeconds * 1000 } : {}),
    retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
  });
}

export interface CollectInput {
  spec: RunSpec;
  runId: string;
  /** Units one execution starts before it continues as new (default UNITS_PER_EXECUTION; tests set fewer to page quickly). */
  unitsPerExecution?: number;
  /** Set when continuing as new: carried totals for the progress query. */
  carried?: {
    executions: number;
    samplesBefore: number;
    /** Paged runs: per source, the first unit not known done, and the done units and rows before it. */
    cursor?: { from: number[]; doneUnits: number[]; doneRows: number[] };
  };
}

export interface SourceProgress {
  model: string;
  source: string;
  taskQueue: string;
  total: number;
  done: number;
  /** Samples found already on disk when this execution started. */
  doneAtStart: number;
  unitsTotal: number;
  unitsDone: number;
  unitsInFlight: number;
  unitsFailed: number;
  /** Retries inside units and failed attempts, by kind (rate_limited, server_error, ...). */
  errors: Record<string, number>;
  samplesPerSecond: number;
  etaSeconds: number | null;
  lastError?: string;
}

export interface CollectProgress {
  runId: string;
  corpus: string;
  status: 'preparing' | 'running' | 'finalizing' | 'done' | 'failed' | 'budget_reached';
  executions: number;
  sources: SourceProgress[];
  /** Runs with a budget: USD spent by committed units, reserved by units in flight (their bounds), and whether a unit was held back. */
  budget?: { usd: number; spentUsd: number; reservedUsd: number; reached: boolean };
}

export const progressQuery = defineQuery<CollectProgress>(PROGRESS_QUERY);

/** Units one execution completes before continuing as new (keeps history small). */
const UNITS_PER_EXECUTION = 400;

async function collectCorpusSteps(input: CollectInput): Promise<CollectResult> {
  const { spec, runId } = input;
  const cpu = cpuSteps(spec);
  const perExecution = input.unitsPerExecution ?? UNITS_PER_EXECUTION;
  const executions = (input.carried?.executions ?? 0) + 1;
  const startedAt = Date.now();
  const progress: CollectProgress = { runId, corpus: spec.corpus, status: 'preparing', executions, sources: [] };
  setHandler(progressQuery, () => {
    const elapsed = Math.max(1, (Date.now() - startedAt) / 1000);
    for (const s of progress.sources) {
      s.samplesPerSecond = (s.done - s.doneAtStart) / elapsed;
      s.etaSeconds = s.samplesPerSecond > 0 ? (s.total - s.done) / s.samplesPerSecond : null;
    }
    return progress;
  });

  const prepared = await cpu.prepareRun({ spec, runId });
  // What the sources' slices held before this run (absent in runs prepared before slices were sets).
  const first = prepared.firstSampleIndex;
  /*
   * Paged (issue #28): each execution asks for one page of each source's units to do (at most
   * UNITS_PER_EXECUTION), from a cursor carried through continue-as-new; units are computed from
   * their index. Executions recorded before it listed every unit (planSources) and replay so.
   */
  const paged = patched('bounded-plan');
  let shapes: SourceShape[];
  let pendingBySource: WorkUnit[][];
  let page: Awaited<ReturnType<CollectActivities['scanPage']>> = [];
  let doneIds: string[][] = [];
  const cursor = input.carried?.cursor;
  if (paged) {
    shapes = sourceShapes(spec, prepared.promptCount, first);
    page = await cpu.scanPage({
      spec,
      runId,
      promptCount: prepared.promptCount,
      ...(first ? { firstSampleIndex: first } : {}),
      from: shapes.map((_, i) => cursor?.from[i] ?? 0),
      // An execution starts at most UNITS_PER_EXECUTION units in all: its page holds about that many.
      limit: Math.ceil(perExecution / shapes.length),
    });
    pendingBySource = shapes.map((shape, i) => page[i].pending.map((p) => unitAt(spec, runId, shape, p.index)));
    progress.sources = shapes.map((shape, i) => {
      const doneUnits = (cursor?.doneUnits[i] ?? 0) + page[i].doneUnits;
      const doneRows = (cursor?.doneRows[i] ?? 0) + page[i].doneRows;
      return sourceProgress(shape, shape.unitCount, doneRows, doneUnits, page[i].quarantined);
    });
  } else {
    const plans = planSources(spec, runId, prepared.promptCount, first);
    const scan = await cpu.scanUnits({ spec, runId, promptCount: prepared.promptCount, ...(first ? { firstSampleIndex: first } : {}) });
    doneIds = scan.doneUnits;
    shapes = plans.map(({ units, ...shape }) => ({ ...shape, unitCount: units.length }));
    pendingBySource = plans.map((plan, i) => {
      const done = new Set(scan.doneUnits[i]);
      return plan.units.filter((u) => !done.has(u.unitId));
    });
    progress.sources = plans.map((plan, i) => sourceProgress(plan, plan.units.length, scan.doneRows[i], scan.doneUnits[i].length, scan.quarantined[i]));
  }
  /*
   * The budget (only when the spec has one; runs without one send the same commands as before).
   * Each provider worker quotes its source: what the committed units cost (their recorded usage at
   * its prices) and a bound per pending unit: every prompt at its token bound (UTF-8 bytes plus
   * template tokens: collect/estimate.ts promptTokenBound; no byte-level tokenizer emits a token
   * for less than a byte) and every completion at maxTokens. A unit starts only if spent + the
   * bounds of the units in flight + its own bound fit in the budget; when it does not fit, it waits
   * for the units in flight (their actual cost replaces their bound), and if nothing is in flight
   * the budget is reached. So what the recorded usage says was spent never passes the budget.
   * (Requests a provider bills whose answer met never got, such as timeouts, are in no usage record.)
   */
  const budget = spec.budget ? { usd: spec.budget.usd, spentUsd: 0, reservedUsd: 0, reached: false } : undefined;
  let quotes: (Quote | undefined)[] = [];
  if (budget) {
    quotes = await Promise.all(
      shapes.map((plan, i) => {
        const source = spec.sources[plan.sourceIndex];
        if (source.kind !== 'provider') return Promise.resolve(undefined);
        return quoter(plan.taskQueue, stepHeartbeatMs(spec.heartbeatTimeoutSeconds), spec.noWorkerTimeoutSeconds).quoteSource({
          corpus: spec.corpus,
          runId,
          promptsFile: prepared.promptsFile,
          samplesPerPrompt: spec.samplesPerPrompt,
          sampling: spec.sampling,
          source,
          model: plan.model,
          sourceLabel: plan.source,
          // Paged: only whether any unit is done matters (spentOnDisk reads the run's rows).
          ...(paged ? { doneUnitIds: [], doneUnitCount: progress.sources[i].unitsDone } : { doneUnitIds: doneIds[i] }),
          pending: pendingBySource[i].map((u) => ({
            unitId: u.unitId,
            start: u.start,
            end: u.end,
            ...(u.firstSampleIndex ? { firstSampleIndex: u.firstSampleIndex } : {}),
          })),
        });
      }),
    );
    budget.spentUsd = quotes.reduce((n, q) => n + (q?.spentUsd ?? 0), 0);
    progress.budget = budget;
  }
  progress.status = 'running';

  let started = 0;
  let fatal: ApplicationFailure | undefined;
  const budgetLeft = () => started < perExecution && !workflowInfo().continueAsNewSuggested && !fatal && !budget?.reached;
  /** Reserves a unit's bound once it fits; false when it cannot fit even with nothing in flight (the budget is reached). */
  // Units holding a reservation (counted, not read off reservedUsd: float sums never return to exactly 0).
  // A unit that costs nothing (a local source) needs none, and nothing waits for it.
  let reservedUnits = 0;
  async function reserve(bound: number): Promise<boolean> {
    if (!budget || bound === 0) return !budget?.reached;
    const fits = () => budget.spentUsd + budget.reservedUsd + bound <= budget.usd;
    for (;;) {
      if (budget.reached) return false;
      if (fits()) {
        budget.reservedUsd += bound;
        reservedUnits += 1;
        return true;
      }
      if (reservedUnits === 0) {
        budget.reached = true;
        return false;
      }
      await condition(() => budget.reached || reservedUnits === 0 || fits());
    }
  }

  const startedBySource = shapes.map(() => 0);
  async function runSource(plan: SourceShape, i: number): Promise<void> {
    const pending = pendingBySource[i];
    const state = progress.sources[i];
    const source = spec.sources[plan.sourceIndex];
    const { sampleUnit } = sampler(plan.taskQueue, spec.heartbeatTimeoutSeconds ?? 60, spec.noWorkerTimeoutSeconds);
    const quote = quotes[i];
    let next = 0;
    async function lane(): Promise<void> {
      while (next < pending.length && budgetLeft()) {
        const unit: WorkUnit = pending[next++];
        const bound = quote?.bounds[unit.unitId] ?? 0;
        if (!(await reserve(bound))) break;
        let costUsd = bound;
        started += 1;
        startedBySource[i] += 1;
        state.unitsInFlight += 1;
        try {
          const unitInput = {
            corpus: spec.corpus,
            runId,
            promptSet: prepared.promptSet,
            promptsFile: prepared.promptsFile,
            samplesPerPrompt: spec.samplesPerPrompt,
            sampling: spec.sampling,
            source,
            unit,
          };
          // A source with `batch:` (only such sources take this path): the unit is one batch, a child workflow.
          const result: UnitResult =
            source.kind === 'provider' && source.batch
              ? await executeChild(batchUnit, {
                  workflowId: `${workflowInfo().workflowId}/batch/${plan.model}/${plan.source}/${unit.unitId}`,
                  args: [
                    {
                      unit: unitInput,
                      taskQueue: plan.taskQueue,
                      heartbeatTimeoutSeconds: spec.heartbeatTimeoutSeconds ?? 60,
                      noWorkerTimeoutSeconds: spec.noWorkerTimeoutSeconds,
                      pollSeconds: source.batch.pollSeconds,
                      maxPollSeconds: source.batch.maxPollSeconds,
                    },
                  ],
                })
              : await sampleUnit(unitInput);
          state.unitsDone += 1;
          state.done += result.rows;
          costUsd = result.costUsd ?? (quote ? bound : 0);
          for (const [kind, n] of Object.entries(result.retries)) state.errors[kind] = (state.errors[kind] ?? 0) + n;
        } catch (err) {
          if (isCancellation(err)) throw err;
          state.unitsFailed += 1;
          // A batch unit's failure is its child workflow's; its cause is what the activity said.
          // (A child fails non-retryably whatever its cause: only a cause of a non-retryable type stops the run.)
          const fromChild = err instanceof ChildWorkflowFailure;
          if (err instanceof ChildWorkflowFailure && err.cause) err = err.cause;
          const timeout = err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
          const cause = timeout
            ? ApplicationFailure.create({
                type: ErrorTypes.NoWorker,
                nonRetryable: true,
                message: `no worker took a unit of ${plan.model}/${plan.source} from task queue ${plan.taskQueue} within ${spec.noWorkerTimeoutSeconds} s: start the worker that serves it (met worker --provider NAME, or --model FILE --precision P)`,
              })
            : err instanceof ActivityFailure && err.cause instanceof ApplicationFailure
              ? err.cause
              : err instanceof ApplicationFailure
                ? err
                : undefined;
          const kind = cause?.type ?? 'activity_failed';
          state.errors[kind] = (state.errors[kind] ?? 0) + 1;
          state.lastError = cause?.message ?? (err as Error).message;
          log.warn('unit failed', { unitId: unit.unitId, source: plan.source, error: state.lastError });
          // A non-retryable error (bad key, bad request) will fail every unit alike: stop early.
          if (cause?.nonRetryable && (!fromChild || NON_RETRYABLE_TYPES.includes(cause.type as never))) fatal ??= cause;
        } finally {
          state.unitsInFlight -= 1;
          // A failed unit counts at its bound: what it bought sits in its journal, unpriced until it completes.
          if (budget && bound > 0) {
            reservedUnits -= 1;
            budget.reservedUsd = reservedUnits === 0 ? 0 : budget.reservedUsd - bound;
            budget.spentUsd += costUsd;
          }
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(spec.window, pending.length) }, lane));
  }

  await Promise.all(shapes.map(runSource));

  if (fatal) {
    progress.status = 'failed';
    throw ApplicationFailure.create({
      type: fatal.type ?? undefined,
      nonRetryable: true,
      message: `${fatal.message} (completed shards are kept; fix this and run 'met resume ${runId}')`,
    });
  }
  const unfinished = progress.sources.some((s) => s.unitsDone < s.unitsTotal);
  const failedUnits = progress.sources.reduce((n, s) => n + s.unitsFailed, 0);
  if (budget?.reached && unfinished && failedUnits === 0) {
    // Ends cleanly: completed shards are kept, and a raised budget continues the same run.
    progress.status = 'budget_reached';
    log.info('budget reached', { runId, spentUsd: budget.spentUsd, budgetUsd: budget.usd });
    return {
      runId,
      corpus: spec.corpus,
      rows: progress.sources.reduce((n, s) => n + s.done, 0),
      sources: progress.sources.map((s) => ({ model: s.model, source: s.source, rows: s.done, expected: s.total })),
      manifest: '',
      budget: { usd: budget.usd, spentUsd: budget.spentUsd, reached: true },
    };
  }
  if (unfinished && failedUnits === 0) {
    const samplesBefore = progress.sources.reduce((n, s) => n + s.done, 0);
    // Every unit this execution started is done (a failure would have ended it): the next page starts after them.
    const next = paged ? nextCursor(page, progress.sources, startedBySource, cursor) : undefined;
    await continueAsNew<typeof collectCorpus>({
      spec,
      runId,
      ...(input.unitsPerExecution ? { unitsPerExecution: input.unitsPerExecution } : {}),
      carried: { executions, samplesBefore, ...(next ? { cursor: next } : {}) },
    });
  }
  if (failedUnits > 0) {
    progress.status = 'failed';
    const last = progress.sources.find((s) => s.lastError)?.lastError;
    throw ApplicationFailure.create({
      type: 'MetUnitsFailed',
      nonRetryable: true,
      message: `${failedUnits} work unit(s) failed after retries (last error: ${last}). Completed shards are kept; run 'met resume ${runId}' to redo only the missing units.`,
    });
  }

  progress.status = 'finalizing';
  const summary = await cpu.finalizeRun({ spec, runId, promptCount: prepared.promptCount, ...(first ? { firstSampleIndex: first } : {}) });
  progress.status = 'done';
  return budget ? { ...summary, budget: { usd: budget.usd, spentUsd: budget.spentUsd, reached: false } } : summary;
}

function sourceProgress(shape: Omit<SourceShape, 'unitCount'>, unitsTotal: number, done: number, unitsDone: number, quarantined: number): SourceProgress {
  return {
    model: shape.model,
    source: shape.source,
    taskQueue: shape.taskQueue,
    total: shape.total,
    done,
    doneAtStart: done,
    unitsTotal,
    unitsDone,
    unitsInFlight: 0,
    unitsFailed: 0,
    errors: quarantined > 0 ? { corrupt_shard_redone: quarantined } : {},
    samplesPerSecond: 0,
    etaSeconds: null,
  };
}

/**
 * Where the next execution's pages start: per source, at the first unit of this page not started
 * (lanes take a page's units in order, so those before it were started and are done), or after
 * the page when all were; with the done units and rows before that point.
 */
function nextCursor(
  page: Awaited<ReturnType<CollectActivities['scanPage']>>,
  sources: SourceProgress[],
  startedBySource: number[],
  cursor: { doneUnits: number[]; doneRows: number[] } | undefined,
): { from: number[]; doneUnits: number[]; doneRows: number[] } {
  const from: number[] = [];
  const doneUnits: number[] = [];
  const doneRows: number[] = [];
  page.forEach((p, i) => {
    const k = startedBySource[i];
    const carriedUnits = cursor?.doneUnits[i] ?? 0;
    const carriedRows = cursor?.doneRows[i] ?? 0;
    const rowsDoneHere = sources[i].done - sources[i].doneAtStart;
    if (k < p.pending.length) {
      from.push(p.pending[k].index);
      doneUnits.push(carriedUnits + p.pending[k].doneUnitsBefore + k);
      doneRows.push(carriedRows + p.pending[k].doneRowsBefore + rowsDoneHere);
    } else {
      from.push(p.next);
      doneUnits.push(carriedUnits + p.doneUnits + k);
      doneRows.push(carriedRows + p.doneRows + rowsDoneHere);
    }
  });
  return { from, doneUnits, doneRows };
}

/** The workflow: its steps, failing with their root cause (type and message) rather than "Activity task failed". */
export async function collectCorpus(input: Parameters<typeof collectCorpusSteps>[0]): ReturnType<typeof collectCorpusSteps> {
  return withRootCause(() => collectCorpusSteps(input));
}
