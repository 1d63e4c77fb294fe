import { hostname } from 'node:os';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions, type LogLevel } from '@temporalio/worker';
import type { MetConfig } from '../config/schema';
import { connectWorker } from '../temporal/connect';
import { formatIdentity } from '../temporal/identity';
import { version } from '../package.json';
import { workflowBundle } from './bundle';
import { failureClassInterceptors } from './failureClasses';

/**
 * Runs a set of workers on one connection until `signal` aborts (SIGINT/SIGTERM in the CLI), then
 * shuts them down cleanly: in-flight activities finish or heartbeat-cancel, polls stop.
 */
export interface WorkerPlan {
  taskQueue: string;
  activities?: object;
  /** Register met's workflows on this queue (the CPU queue does). */
  workflows?: boolean;
  /** What the worker's identity says besides host, pid, queue, met version and data (met fleet, /health). */
  identity?: { model?: string; gpu?: number | 'cpu'; scorer?: string };
  options?: Partial<Omit<WorkerOptions, 'connection' | 'taskQueue' | 'activities' | 'namespace'>>;
}

let runtimeInstalled = false;
/** The SDK's last 'Worker failed' cause, from its log (a failed worker's run() may never settle). */
let lastWorkerFailure: string | undefined;
/** SDK logs at WARN by default (MET_LOG_LEVEL=INFO|DEBUG for more); must run before the first connection. */
export function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    const level = (process.env.MET_LOG_LEVEL as LogLevel | undefined) ?? 'WARN';
    // Activity-only workers (providers, models) are expected to poll no workflows: drop that warning.
    const logger = new DefaultLogger(level, (entry) => {
      if (entry.message.startsWith('No workflows registered')) return;
      // An Error in meta serialises as {}: print its message, which is the cause a person needs.
      const meta = entry.meta?.error instanceof Error ? { ...entry.meta, error: entry.meta.error.message } : entry.meta;
      if (entry.message === 'Worker failed' && entry.meta?.error instanceof Error) lastWorkerFailure = entry.meta.error.message;
      process.stderr.write(
        `${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${meta ? ` ${JSON.stringify(meta)}` : ''}\n`,
      );
    });
    // met handles SIGINT/SIGTERM itself (shutdownSignal below, met demo): the runtime must not.
    Runtime.install({ logger, shutdownSignals: [] });
  } catch {
    // A runtime exists already (tests install their own); keep it.
  }
}

/** How long a stopping worker's activities get to finish before they are cancelled. */
const WORKER_GRACE_MS = 10_000;

export async function runWorkers(config: MetConfig, plans: WorkerPlan[], signal: AbortSignal, log: (line: string) => void = () => {}): Promise<void> {
  installRuntime();
  const connection: NativeConnection = await connectWorker(config);
  try {
    const bundle = plans.some((p) => p.workflows) ? await workflowBundle() : undefined;
    const workers = await Promise.all(
      plans.map((plan) =>
        Worker.create({
          connection,
          namespace: config.temporal.namespace,
          taskQueue: plan.taskQueue,
          activities: plan.activities,
          workflowBundle: plan.workflows ? bundle : undefined,
          identity: planIdentity(plan, config.corpora ?? config.dataDir),
          shutdownGraceTime: WORKER_GRACE_MS,
          interceptors: failureClassInterceptors,
          ...plan.options,
        }),
      ),
    );
    for (const plan of plans) log(`worker polling ${plan.taskQueue}${plan.workflows ? ' (workflows + activities)' : ''}`);
    const stopAll = () => workers.forEach((w) => w.getState() === 'RUNNING' && w.shutdown());
    if (signal.aborted) stopAll();
    else signal.addEventListener('abort', stopAll, { once: true });
    // One worker failing for good (its server came back without the namespace, say) stops them all,
    // and the caller exits: a process still polling some queues would look alive while the failed
    // queue's runs wait forever, and nothing restarts a worker that has not exited.
    // A failed worker's run() may never settle (its shutdown waits on the server), so its state is
    // watched too; the others get their grace time, then the process gives up on them.
    let failure: { queue: string; error: unknown } | undefined;
    // The SDK's logged cause comes first: run() then rejects with a clean-up error of its own.
    const fail = (i: number, error: unknown) => {
      failure ??= { queue: plans[i].taskQueue, error: lastWorkerFailure ? new Error(lastWorkerFailure, { cause: error }) : error };
      stopAll();
    };
    const settled = Promise.all(workers.map((w, i) => w.run().catch((error: unknown) => fail(i, error))));
    let watch: NodeJS.Timeout | undefined;
    const failedFor = new Promise<void>((resolve) => {
      watch = setInterval(() => {
        const i = workers.findIndex((w) => w.getState() === 'FAILED');
        if (i >= 0 && !failure) fail(i, new Error(lastWorkerFailure ?? 'the SDK reported it failed (see its log above)'));
        if (failure) setTimeout(resolve, WORKER_GRACE_MS + 10_000).unref();
        if (failure) clearInterval(watch);
      }, 1000);
      watch.unref();
    });
    await Promise.race([settled, failedFor]);
    clearInterval(watch);
    if (failure) throw new WorkerFailed(failure.queue, failure.error);
  } finally {
    // A connection whose server is gone can hang on close: bounded, the process is leaving anyway.
    // (A failed worker may still hold it, and closing then throws: that must not hide the cause.)
    await Promise.race([connection.close().catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}

/** A worker that stopped polling for good: its queue and the SDK's cause. */
export class WorkerFailed extends Error {
  constructor(
    readonly queue: string,
    cause: unknown,
  ) {
    super(`the worker polling ${queue} failed: ${cause instanceof Error ? cause.message : String(cause)}; this process stops all its queues`, { cause });
    this.name = 'WorkerFailed';
  }
}

/** An AbortSignal that fires on SIGINT/SIGTERM (a second signal exits at once). */
export function shutdownSignal(log: (line: string) => void = () => {}): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: string) => {
    if (controller.signal.aborted) process.exit(130);
    log(`${name}: shutting down workers (again to force)`);
    controller.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return controller.signal;
}

/** The identity a worker of this plan gives Temporal (temporal/identity.ts): met fleet and /health read it. */
export function planIdentity(plan: Pick<WorkerPlan, 'taskQueue' | 'identity'>, data: string): string {
  return formatIdentity({
    pid: process.pid,
    host: hostname(),
    queue: plan.taskQueue,
    version,
    model: plan.identity?.model,
    gpu: plan.identity?.gpu === undefined || plan.identity.gpu === 'cpu' ? undefined : String(plan.identity.gpu),
    data,
    scorer: plan.identity?.scorer,
  });
}
