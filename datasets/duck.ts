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
}

export async function createDuckDB(options: DuckDBOptions = {}): Promise<DuckDBInstance> {
  const config: Record<string, string> = { threads: String(options.threads ?? 2) };
  if (options.memoryLimit) config.memory_limit = options.memoryLimit;
  if (options.tempDirectory) config.temp_directory = options.tempDirectory;
  return DuckDBInstance.create(':memory:', config);
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
