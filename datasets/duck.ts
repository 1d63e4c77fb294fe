import { realpathSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { DuckDBConnection, DuckDBInstance, quotedIdentifier, quotedString } from '@duckdb/node-api';

/**
 * DuckDB is met's Parquet engine: one in-memory instance per process, created by the worker or
 * CLI entry point and passed to the code that needs it; one connection per unit of work, closed in
 * `finally`. Values go in as bound parameters; `quotedString`/`quotedIdentifier` are for the few
 * places SQL text must name a path or a column (COPY targets, view definitions, generated DDL).
 */
export interface DuckDBOptions {
  /** Worker threads DuckDB may use (default 2: the size of met's machines). */
  threads?: number;
  /** e.g. '2GB'; DuckDB's default is 80% of RAM. */
  memoryLimit?: string;
  /** Where DuckDB may spill when a query exceeds the memory limit. */
  tempDirectory?: string;
  /**
   * Folders this instance may read and write; with them, every other file and every URL is
   * refused (enable_external_access=false). Workers pass their data folder and prompt roots, so a
   * path a request names cannot reach anything else even if it got past the checks before DuckDB.
   */
  allowedDirectories?: string[];
}

export async function createDuckDB(options: DuckDBOptions = {}): Promise<DuckDBInstance> {
  // Never fetch or load an extension because a query named an http:// or s3:// path: met needs none.
  const config: Record<string, string> = { threads: String(options.threads ?? 2), autoinstall_known_extensions: 'false', autoload_known_extensions: 'false' };
  if (options.memoryLimit) config.memory_limit = options.memoryLimit;
  if (options.tempDirectory) config.temp_directory = options.tempDirectory;
  const instance = await DuckDBInstance.create(':memory:', config);
  if (options.allowedDirectories?.length) {
    const dirs = options.allowedDirectories.flatMap((d) => {
      const abs = resolve(d);
      let real = abs;
      try {
        real = realpathSync(abs);
      } catch {
        // not there yet: allowed by its name
      }
      return [...new Set([abs, real])].map((p) => quotedString(p.endsWith(sep) ? p : p + sep));
    });
    await withConnection(instance, async (c) => {
      await c.run(`SET allowed_directories = [${dirs.join(', ')}]`);
      await c.run('SET enable_external_access = false');
    });
  }
  return instance;
}

export async function withConnection<T>(instance: DuckDBInstance, fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const connection = await instance.connect();
  try {
    return await fn(connection);
  } finally {
    connection.closeSync();
  }
}

export { quotedIdentifier, quotedString };
export type { DuckDBConnection, DuckDBInstance };
