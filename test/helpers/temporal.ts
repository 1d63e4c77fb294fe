import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger, Worker, type WorkerOptions } from '@temporalio/worker';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { workflowBundle } from '../../workers/bundle';

/**
 * The real Temporal dev server for tests. `npm test` (scripts/run-tests.js) starts one server per
 * test run and passes its address in MET_TEST_TEMPORAL_ADDRESS; a test file run on its own starts
 * a private server instead. Never a mock, never skipped: if no server can be had, tests fail.
 */
export interface TestTemporal {
  address: string;
  namespace: string;
  client: Client;
  nativeConnection: NativeConnection;
  /** Starts a worker on a fresh queue with the pre-built bundle; caller uses runUntil. */
  createWorker(options: Omit<WorkerOptions, 'connection' | 'namespace' | 'workflowBundle' | 'workflowsPath'>): Promise<Worker>;
  close(): Promise<void>;
}

let runtimeQuiet = false;
/**
 * Keeps the SDK's own logs at WARN so test output stays readable, and turns the failures tests
 * cause on purpose ("Activity failed", "Workflow failed": a worker's WARN with the whole error and
 * its stack) into one line each: what failed and its `Type: message`. Tests assert on the
 * failures themselves. MET_TEST_VERBOSE=1 shows the SDK's full entries.
 */
export function quietRuntime(): void {
  if (runtimeQuiet) return;
  runtimeQuiet = true;
  const full = new DefaultLogger('WARN');
  const logger =
    process.env.MET_TEST_VERBOSE === '1'
      ? full
      : new DefaultLogger('WARN', (entry) => {
          const summary = failureSummary(entry.message, entry.meta);
          if (summary === undefined) full.log(entry.level, entry.message, entry.meta);
          else process.stderr.write(`[${entry.level}] ${summary}\n`);
        });
  try {
    Runtime.install({ logger });
  } catch {
    // Already installed by an earlier call in this process.
  }
}

/** One line for an expected activity or workflow failure log entry; undefined for any other entry. */
export function failureSummary(message: string, meta: Record<string, unknown> | undefined): string | undefined {
  if (message !== 'Activity failed' && message !== 'Workflow failed') return undefined;
  const error = meta?.error as { type?: string | null; message?: string } | undefined;
  const what = message === 'Activity failed' ? meta?.activityType : meta?.workflowType;
  const cause = error ? `${error.type ? `${error.type}: ` : ''}${error.message ?? ''}` : 'no error given';
  return `${message} (${String(what ?? '?')}, ${String(meta?.workflowId ?? '?')}): ${cause.split('\n')[0]}`;
}

export async function startTestTemporal(): Promise<TestTemporal> {
  quietRuntime();
  let ownDataDir: string | undefined;
  let address = process.env.MET_TEST_TEMPORAL_ADDRESS;
  const namespace = 'met';
  if (!address) {
    ownDataDir = mkdtempSync(join(tmpdir(), 'met-temporal-'));
    const port = await freePort();
    await startDevServer({ dataDir: ownDataDir, port, headless: true, namespace });
    address = `127.0.0.1:${port}`;
  }
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const nativeConnection = await NativeConnection.connect({ address });
  const bundle = await workflowBundle();
  return {
    address,
    namespace,
    client,
    nativeConnection,
    createWorker: (options) => Worker.create({ ...options, connection: nativeConnection, namespace, workflowBundle: bundle }),
    async close() {
      await nativeConnection.close();
      await connection.close();
      if (ownDataDir) {
        await stopDevServer(ownDataDir);
        rmSync(ownDataDir, { recursive: true, force: true });
      }
    },
  };
}

let counter = 0;
/** A unique task queue / workflow id per test, so tests never see each other's tasks. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** Runs `fn` while workers for these plans poll (on the test server), then shuts them down. */
export async function withPlanWorkers<T>(temporal: TestTemporal, plans: import('../../workers/run').WorkerPlan[], fn: () => Promise<T>): Promise<T> {
  const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
  const running = workers.map((w) => w.run());
  try {
    return await fn();
  } finally {
    workers.forEach((w) => w.shutdown());
    await Promise.all(running);
  }
}
