import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { createDuckDB } from '../../datasets';
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
  hooks: { setUp?: () => Promise<void>; beforeClose?: () => Promise<void> } = {},
): string {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  let env: { temporal: TestTemporal; duck: DuckDBInstance } | undefined;
  before(async () => {
    env = { temporal: await startTestTemporal(), duck: await createDuckDB() };
    assign(env);
    await hooks.setUp?.();
  });
  after(async () => {
    await hooks.beforeClose?.();
    await env?.temporal.close();
    env?.duck.closeSync();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return dataDir;
}
