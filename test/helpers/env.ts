import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { createDuckDB } from '../../datasets';
import type { Worker } from '@temporalio/worker';
import { cpuWorkerPlan } from '../../workers/cpu';
import { startTestTemporal, type TestTemporal } from './temporal';

/**
 * The set-up most test files share: a temporary data folder (made now, removed after the file's
 * tests), and in before() a client on the run's Temporal dev server and a DuckDB instance, closed
 * in after(). `assign` hands them to the file's own variables:
 *   let temporal: TestTemporal;
 *   let duck: DuckDBInstance;
 *   const dataDir = useTestEnv('met-flags-', (env) => ({ temporal, duck } = env));
 * The file's own set-up goes in `setUp` (run once Temporal and DuckDB are there) and what must stop
 * while Temporal is still open (workers on its connection) in `beforeClose`: node:test on Node 20
 * starts a file's top-level before() hooks together, without waiting for the one declared first.
 */
export function useTestEnv(
  prefix: string,
  assign: (env: { temporal: TestTemporal; duck: DuckDBInstance }) => void,
  hooks: { setUp?: () => Promise<void>; beforeClose?: () => Promise<void>; cpuWorkerQueue?: string } = {},
): string {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  let env: { temporal: TestTemporal; duck: DuckDBInstance } | undefined;
  let cpuWorker: { worker: Worker; running: Promise<void> } | undefined;
  before(async () => {
    env = { temporal: await startTestTemporal(), duck: await createDuckDB() };
    assign(env);
    // A CPU worker (met's workflows and CPU activities) on this queue for the whole file.
    if (hooks.cpuWorkerQueue) {
      const taskQueue = hooks.cpuWorkerQueue;
      const worker = await env.temporal.createWorker({ taskQueue, activities: cpuWorkerPlan({ dataDir, duck: env.duck, taskQueue }).activities });
      cpuWorker = { worker, running: worker.run() };
    }
    await hooks.setUp?.();
  });
  after(async () => {
    await hooks.beforeClose?.();
    cpuWorker?.worker.shutdown();
    await cpuWorker?.running;
    await env?.temporal.close();
    env?.duck.closeSync();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return dataDir;
}
