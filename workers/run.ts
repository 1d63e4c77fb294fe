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
/** SDK logs at WARN by default (MET_LOG_LEVEL=INFO|DEBUG for more); must run before the first connection. */
export function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    const level = (process.env.MET_LOG_LEVEL as LogLevel | undefined) ?? 'WARN';
    // Activity-only workers (providers, models) are expected to poll no workflows: drop that warning.
    const logger = new DefaultLogger(level, (entry) => {
      if (entry.message.startsWith('No workflows registered')) return;
      process.stderr.write(
        `${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${entry.meta ? ` ${JSON.stringify(entry.meta)}` : ''}\n`,
      );
    });
    // met handles SIGINT/SIGTERM itself (shutdownSignal below, met demo): the runtime must not.
    Runtime.install({ logger, shutdownSignals: [] });
  } catch {
    // A runtime exists already (tests install their own); keep it.
  }
}

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
          shutdownGraceTime: '10s',
          interceptors: failureClassInterceptors,
          ...plan.options,
        }),
      ),
    );
    for (const plan of plans) log(`worker polling ${plan.taskQueue}${plan.workflows ? ' (workflows + activities)' : ''}`);
    const onAbort = () => workers.forEach((w) => w.shutdown());
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await connection.close();
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
