import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

/**
 * DuckDB is met's Parquet engine: one in-memory instance per process, passed to the code that
 * needs it; one connection per unit of work, closed in `finally`.
 */
export async function createDuckDB(): Promise<DuckDBInstance> {
  return DuckDBInstance.create(':memory:', { threads: '2' });
}

export async function withConnection<T>(instance: DuckDBInstance, fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const connection = await instance.connect();
  try {
    return await fn(connection);
  } finally {
    connection.closeSync();
  }
}

/** A string literal for SQL text (paths in COPY/read_parquet); everything else is a bound parameter. */
export function quotedString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export function quotedIdentifier(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}
