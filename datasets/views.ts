import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LIST, listValue, VARCHAR, type DuckDBConnection } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { quotedIdentifier, quotedString } from './duck';
import { corpusDir, isShardFile, kindDir, listPartitionDirs, listShards, type Partition } from './paths';
import { SchemaVersionError } from './shards';
import { ADDED_COLUMNS, datasetColumns, META, PARTITION_COLUMNS, SCHEMA_VERSION, SHARD_KINDS, type ShardKind, sqlType, unionByNameOption } from './tables';

/**
 * DuckDB views over a corpus: `samples`, `logprobs`, `prompts`, `tests`, `power`, each reading its
 * kind's hive folders as one dataset (partition columns typed VARCHAR, never auto-cast, so a model
 * named "2024" stays a string). A kind with no shards gets an empty view of the right columns.
 */

/** Glob of a kind's shard files (one `*` per partition level). */
export function kindGlob(root: string, corpus: string, kind: ShardKind): string {
  return join(kindDir(root, corpus, kind), ...PARTITION_COLUMNS[kind].map(() => '*'), 'part-*.parquet');
}

/** Globs of the partition folders of a kind that match a filter (all when the filter is empty). */
export function partitionGlobs(root: string, corpus: string, kind: ShardKind, filter: Partial<Record<string, string[]>> = {}): string[] {
  const keep = (p: Partition) => Object.entries(filter).every(([field, values]) => !values || values.includes(p[field]));
  return listPartitionDirs(root, corpus, kind)
    .filter((d) => keep(d.partition) && readdirSync(d.dir).some(isShardFile))
    .map((d) => join(d.dir, 'part-*.parquet'));
}

export function hiveTypesSql(kind: ShardKind): string {
  return `{${PARTITION_COLUMNS[kind].map((col) => `${quotedString(col.name)}: VARCHAR`).join(', ')}}`;
}

/** `read_parquet(...)` of a list of files/globs bound as parameter `$name`. */
export function readParquetSql(kind: ShardKind, param = 'files'): string {
  const hive = PARTITION_COLUMNS[kind].length > 0 ? `, hive_partitioning = true, hive_types = ${hiveTypesSql(kind)}` : ', hive_partitioning = false';
  return withAddedColumns(kind, `read_parquet($${param}::VARCHAR[]${hive}${unionByNameOption(kind)})`);
}

/**
 * A kind's files with every dataset column, also when none of them has a column added later
 * (ADDED_COLUMNS): it reads as NULL, as in any file written before it. Unchanged for other kinds.
 */
export function withAddedColumns(kind: ShardKind, relation: string): string {
  if (ADDED_COLUMNS[kind].length === 0) return relation;
  return `(SELECT * FROM ${emptyRelationSql(kind)} UNION ALL BY NAME SELECT * FROM ${relation})`;
}

/** An empty relation with a kind's dataset columns. */
export function emptyRelationSql(kind: ShardKind): string {
  return `(SELECT ${datasetColumns(kind)
    .map((col) => `NULL::${sqlType(col.type)} AS ${quotedIdentifier(col.name)}`)
    .join(', ')} WHERE false)`;
}

/**
 * Rejects files met cannot read: a newer schema version (MetError SchemaVersion) or no met
 * metadata at all. Reads only footers.
 */
export async function checkVersions(c: DuckDBConnection, files: string[]): Promise<void> {
  if (files.length === 0) return;
  let rows: unknown[][];
  try {
    const reader = await c.runAndReadAll(
      `SELECT file_name, max(CASE WHEN decode(key) = $key THEN decode(value) END) FROM parquet_kv_metadata($files::VARCHAR[]) GROUP BY file_name`,
      { key: META.version, files: listValue(files) },
      { files: LIST(VARCHAR) },
    );
    rows = reader.getRows();
  } catch (err) {
    if (/No files found/i.test(String(err))) return;
    throw new MetError(
      ErrorTypes.ShardCorrupt,
      `a shard cannot be read (${String((err as Error).message).split('\n')[0]}): run 'met corpus verify' to find and quarantine it`,
    );
  }
  for (const [file, v] of rows) {
    if (v === null)
      throw new MetError(ErrorTypes.ShardCorrupt, `${String(file)} is not a met shard (no ${META.version} in its metadata): move it out of the corpus folder`);
    if (Number(v) > SCHEMA_VERSION) throw new SchemaVersionError(String(file), Number(v));
  }
}

/** Creates the temp views of a corpus on a connection, after checking every shard's schema version. */
export async function createCorpusViews(c: DuckDBConnection, root: string, corpus: string, kinds: readonly ShardKind[] = SHARD_KINDS): Promise<void> {
  if (!existsSync(corpusDir(root, corpus)))
    throw new MetError(ErrorTypes.NotFound, `no corpus '${corpus}' under ${join(root, 'corpus')} (see 'met corpus ls', or pass --data)`);
  for (const kind of kinds) {
    const files = listShards(root, corpus, kind).map((s) => s.path);
    let relation = emptyRelationSql(kind);
    if (files.length > 0) {
      await checkVersions(c, files);
      const hive = PARTITION_COLUMNS[kind].length > 0 ? `, hive_partitioning = true, hive_types = ${hiveTypesSql(kind)}` : ', hive_partitioning = false';
      relation = withAddedColumns(kind, `read_parquet(${quotedString(kindGlob(root, corpus, kind))}${hive}${unionByNameOption(kind)})`);
    }
    await c.run(`CREATE OR REPLACE TEMP VIEW ${quotedIdentifier(kind)} AS SELECT * FROM ${relation}`);
  }
}
