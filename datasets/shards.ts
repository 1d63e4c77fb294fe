import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { commitFileAsync, fsyncPath } from '../common/files';
import { issueLine } from '../common/issues';
import { appendRows } from './chunks';
import { compileRowCheck, type RowCheck } from './rowCheck';
import { quotedIdentifier, quotedString, withConnection } from './duck';
import { corpusDir, encodePathValue, isCompactedShardFile, type Partition, quarantineDir, shardPath } from './paths';
import { CHECKSUM_ALGORITHM, checksumSql, FILE_COLUMNS, META, PARTITION_FIELDS, SCHEMA_VERSION, type ShardKind, tableDdl, WRITE_SCHEMAS } from './tables';

/**
 * Shards: one immutable Parquet file per work unit (see paths.ts for where). A shard is written to
 * a temporary name in its own folder, fsynced, renamed and its folder fsynced, so it exists
 * complete or not at all. Its footer's key-value metadata records the schema version, row count,
 * content checksum, corpus, partition and unit ids. A shard that fails to read or to match its
 * metadata is corrupt: it is moved to the corpus's quarantine/ folder and its unit is redone.
 */
export type { Partition };

export interface ShardTarget {
  corpus: string;
  kind: ShardKind;
  /** Partition values (e.g. { model, source }); taken from the rows when left out. */
  partition?: Partition;
  unitId: string;
}

export interface WriteShardOptions {
  /**
   * 'schema' (default): every row is checked against the kind's zod schema (scalar fields by zod,
   * lists of numbers element by element during the columnar copy; errors name the row and field).
   * 'types': only the column type checks of the columnar copy (wrong types, nulls, non-integers,
   * out-of-range values), not zod's value rules (non-empty strings, enums, ranges).
   */
  validate?: 'schema' | 'types';
  /** Target uncompressed bytes per Parquet row group (default 64 MiB). */
  rowGroupBytes?: number;
}

export interface WrittenShard {
  path: string;
  rows: number;
  checksum: string;
  bytes: number;
  /** True when a valid shard for this unit already existed and was kept as is. */
  alreadyDone: boolean;
}

/** Key-value metadata as met writes it. */
export interface ShardMeta {
  version: number;
  kind: ShardKind;
  rows: number;
  checksum: string;
  checksumAlgorithm: string;
  corpus: string;
  partition: Partition;
  /** unit id -> rows. */
  units: Record<string, number>;
}

const DEFAULT_ROW_GROUP_BYTES = 64 * 1024 * 1024;

/**
 * The Parquet settings of the shards met writes. ZSTD level 1 instead of DuckDB's default 3: on
 * sampler rows about 25% less write CPU for files about 2.5% larger (bench/corpus measures a plain
 * COPY with both). Format v2 pages would be smaller still, but pyarrow fails on DuckDB's v2 files.
 */
export const PARQUET_WRITE_OPTIONS = 'COMPRESSION zstd, COMPRESSION_LEVEL 1';

const rowChecks = new Map<ShardKind, RowCheck | undefined>();
/** The compiled fast path of a kind's write schema (undefined: zod parses every row). */
function rowCheckOf(kind: ShardKind): RowCheck | undefined {
  if (!rowChecks.has(kind)) rowChecks.set(kind, compileRowCheck(WRITE_SCHEMAS[kind]));
  return rowChecks.get(kind);
}

/** Rough uncompressed size of rows, to size row groups by bytes (DuckDB sizes them by rows). */
function estimateBytes(rows: readonly Record<string, unknown>[], sample = 256): number {
  if (rows.length === 0) return 0;
  const step = Math.max(1, Math.floor(rows.length / sample));
  let bytes = 0;
  let counted = 0;
  const size = (v: unknown): number => {
    if (typeof v === 'string') return v.length + 16;
    if (Array.isArray(v)) return v.reduce((a: number, x) => a + size(x), 16);
    if (v && typeof v === 'object' && !(v instanceof Date)) return Object.values(v).reduce((a: number, x) => a + size(x), 0);
    return 8;
  };
  for (let i = 0; i < rows.length; i += step, counted++) bytes += size(rows[i]);
  return (bytes / counted) * rows.length;
}

/**
 * Rows per row group: about `targetBytes` of uncompressed data, but at least two groups once a
 * shard has 4,096 rows or more, because DuckDB writes (and reads) row groups in parallel: a
 * 10,000-row shard is written about 1.5x faster as two groups than as one.
 */
export function rowGroupRows(rows: number, totalBytes: number, targetBytes = DEFAULT_ROW_GROUP_BYTES): number {
  if (rows === 0 || totalBytes === 0) return 122880;
  const byBytes = Math.floor(targetBytes / (totalBytes / rows));
  return Math.max(2048, Math.min(1_000_000, byBytes, Math.ceil(rows / 2)));
}

function partitionOf(kind: ShardKind, target: ShardTarget, rows: readonly Record<string, unknown>[]): Partition {
  const fields = PARTITION_FIELDS[kind];
  const partition: Partition = target.partition ? { ...target.partition } : {};
  for (const f of fields) {
    if (partition[f] === undefined && rows.length > 0) partition[f] = rows[0][f] as string;
  }
  for (let i = 0; i < rows.length; i++) {
    for (const f of fields) {
      if (rows[i][f] !== partition[f]) {
        throw new MetError(
          ErrorTypes.BadInput,
          `row ${i}: ${f} is '${String(rows[i][f])}' but the shard is for ${f} '${partition[f]}': one shard holds one partition`,
        );
      }
    }
    if ('unitId' in rows[i] && rows[i].unitId !== target.unitId) {
      throw new MetError(ErrorTypes.BadInput, `row ${i}: unitId is '${String(rows[i].unitId)}' but the shard is for unit '${target.unitId}'`);
    }
    if ('corpus' in rows[i] && rows[i].corpus !== target.corpus) {
      throw new MetError(ErrorTypes.BadInput, `row ${i}: corpus is '${String(rows[i].corpus)}' but the shard is written to corpus '${target.corpus}'`);
    }
  }
  return partition;
}

/** Copies a staged table to a Parquet file with met's metadata. */
export async function copyToParquet(
  c: DuckDBConnection,
  relation: string,
  path: string,
  meta: Omit<ShardMeta, 'version' | 'checksumAlgorithm'>,
  rowGroupSize: number,
): Promise<void> {
  const values: Record<string, string> = {
    v: String(SCHEMA_VERSION),
    kind: meta.kind,
    rows: String(meta.rows),
    checksum: meta.checksum,
    algorithm: CHECKSUM_ALGORITHM,
    corpus: meta.corpus,
    partition: JSON.stringify(meta.partition),
    units: JSON.stringify(meta.units),
    writer: 'met',
  };
  const kv = `{${META.version}: $v, ${META.kind}: $kind, ${META.rows}: $rows, ${META.checksum}: $checksum, ${META.checksumAlgorithm}: $algorithm, ${META.corpus}: $corpus, ${META.partition}: $partition, ${META.units}: $units, ${META.writer}: $writer}`;
  await c.run(
    `COPY ${relation} TO ${quotedString(path)} (FORMAT parquet, ${PARQUET_WRITE_OPTIONS}, ROW_GROUP_SIZE ${Math.floor(rowGroupSize)}, KV_METADATA ${kv})`,
    values,
  );
}

export function tempPath(dir: string, label: string): string {
  return join(dir, `.tmp-${label}-${process.pid}-${randomBytes(4).toString('hex')}.parquet`);
}

/**
 * Writes rows as one shard atomically. An existing valid shard for the unit is kept as is (the
 * unit is done); a corrupt one is quarantined and rewritten.
 */
export async function writeShard(
  duck: DuckDBInstance,
  root: string,
  target: ShardTarget,
  rows: readonly Record<string, unknown>[],
  options: WriteShardOptions = {},
): Promise<WrittenShard> {
  const { kind, unitId, corpus } = target;
  if (unitId.startsWith('compact-'))
    throw new MetError(ErrorTypes.BadInput, `unit id '${unitId}' must not start with 'compact-' (reserved for compacted shards)`);
  if ((options.validate ?? 'schema') === 'schema') {
    const schema = WRITE_SCHEMAS[kind];
    const fast = rowCheckOf(kind);
    for (let i = 0; i < rows.length; i++) {
      if (fast?.(rows[i])) continue;
      const parsed = schema.safeParse(rows[i]);
      if (!parsed.success) {
        throw new MetError(ErrorTypes.BadInput, `row ${i} of unit ${unitId}: ${issueLine(parsed.error.issues[0], '(row)')}`);
      }
    }
  }
  const partition = partitionOf(kind, target, rows);
  const path = shardPath(root, corpus, kind, partition, unitId);
  const dir = dirname(path);

  // Done already, in its own file or in a compacted one: keep it (a retry must not duplicate it).
  const existing = await shardStatus(duck, path, kind, false);
  if (existing.state === 'valid') {
    const at = existing.compactedInto ?? path;
    return { path: at, rows: existing.rows, checksum: existing.checksum, bytes: statSync(at).size, alreadyDone: true };
  }
  if (existing.state === 'corrupt') quarantine(root, corpus, path);

  mkdirSync(dir, { recursive: true });
  const temp = tempPath(dir, `part-${encodePathValue(unitId)}`);
  try {
    const { n, checksum } = await withConnection(duck, async (c) => {
      const tableName = `stage_${randomBytes(6).toString('hex')}`;
      const table = quotedIdentifier(tableName);
      await c.run(`CREATE TEMP TABLE ${table} (${tableDdl(kind)})`);
      try {
        const appender = await c.createAppender(tableName);
        try {
          appendRows(appender, FILE_COLUMNS[kind], rows);
        } finally {
          appender.closeSync();
        }
        const sums = (await c.runAndReadAll(checksumSql(kind, table))).getRows()[0];
        const n = Number(sums[0]);
        if (n !== rows.length) throw new Error(`staged ${n} of ${rows.length} rows`);
        const checksum = String(sums[1]);
        const groupRows = rowGroupRows(rows.length, estimateBytes(rows), options.rowGroupBytes);
        await copyToParquet(c, table, temp, { kind, rows: n, checksum, corpus, partition, units: { [unitId]: n } }, groupRows);
        return { n, checksum };
      } finally {
        await c.run(`DROP TABLE IF EXISTS ${table}`);
      }
    });
    await commitFileAsync(temp, path);
    return { path, rows: n, checksum, bytes: statSync(path).size, alreadyDone: false };
  } finally {
    rmSync(temp, { force: true });
  }
}

/** Reads met's footer metadata; throws when the file is unreadable. */
export async function readShardMeta(c: DuckDBConnection, path: string): Promise<Map<string, string>> {
  const reader = await c.runAndReadAll('SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata($path)', { path });
  return new Map(reader.getRows().map((r) => [String(r[0]), String(r[1])]));
}

export class SchemaVersionError extends MetError {
  constructor(path: string, version: number) {
    super(
      ErrorTypes.SchemaVersion,
      `${path} was written with met schema version ${version}, newer than this met understands (${SCHEMA_VERSION}): upgrade met to read it`,
    );
  }
}

/** Parses met's metadata map; a reason string when it is not a complete met shard of `kind`. */
export function parseShardMeta(path: string, meta: Map<string, string>, kind: ShardKind): ShardMeta | string {
  const version = Number(meta.get(META.version));
  if (!meta.has(META.version) || !Number.isInteger(version)) return 'not a met shard (no met_schema_version in its metadata)';
  if (version > SCHEMA_VERSION) throw new SchemaVersionError(path, version);
  if (meta.get(META.kind) !== kind) return `holds ${meta.get(META.kind)} rows, not ${kind}`;
  const rows = Number(meta.get(META.rows));
  if (!Number.isInteger(rows) || rows < 0) return 'metadata has no valid row count';
  try {
    return {
      version,
      kind,
      rows,
      checksum: meta.get(META.checksum) ?? '',
      checksumAlgorithm: meta.get(META.checksumAlgorithm) ?? '',
      corpus: meta.get(META.corpus) ?? '',
      partition: JSON.parse(meta.get(META.partition) ?? '{}') as Partition,
      units: JSON.parse(meta.get(META.units) ?? '{}') as Record<string, number>,
    };
  } catch {
    return 'metadata is not valid JSON';
  }
}

export type ShardStatus =
  | { state: 'missing' }
  | {
      state: 'valid';
      rows: number;
      checksum: string;
      meta: ShardMeta;
      /** The compacted shard that holds the unit, when it is not in its own file. */ compactedInto?: string;
    }
  | { state: 'corrupt'; reason: string };

/**
 * The state of a shard file. `deep` (default) re-reads every row and compares the count and the
 * content checksum with the metadata; otherwise only the footer is read. A missing unit shard
 * counts as valid when a compacted shard in the same folder lists its unit. A shard of a newer
 * schema version throws MetError SchemaVersion rather than being called corrupt.
 */
export async function shardStatus(duck: DuckDBInstance, path: string, kind: ShardKind, deep = true): Promise<ShardStatus> {
  if (!existsSync(path)) {
    const unit = unitOfFileName(basename(path));
    return unit === undefined ? { state: 'missing' } : compactedUnitStatus(duck, dirname(path), kind, unit);
  }
  try {
    return await withConnection(duck, (c) => checkShard(c, path, kind, deep));
  } catch (err) {
    if (err instanceof MetError) throw err;
    return { state: 'corrupt', reason: firstLine(err) };
  }
}

async function checkShard(c: DuckDBConnection, path: string, kind: ShardKind, deep: boolean): Promise<ShardStatus> {
  let metaMap: Map<string, string>;
  try {
    metaMap = await readShardMeta(c, path);
  } catch (err) {
    return { state: 'corrupt', reason: `unreadable footer: ${firstLine(err)}` };
  }
  const meta = parseShardMeta(path, metaMap, kind);
  if (typeof meta === 'string') return { state: 'corrupt', reason: meta };
  if (!deep) return { state: 'valid', rows: meta.rows, checksum: meta.checksum, meta };
  if (meta.checksumAlgorithm !== CHECKSUM_ALGORITHM) {
    return { state: 'corrupt', reason: `checksum algorithm '${meta.checksumAlgorithm}' is not ${CHECKSUM_ALGORITHM}` };
  }
  let sums: unknown[];
  try {
    const relation = `read_parquet(${quotedString(path)})`;
    // A file written before a column was added has no such column: hash the ones it has.
    const present = (await c.runAndReadAll(`DESCRIBE SELECT * FROM ${relation}`)).getRows().map((r) => String(r[0]));
    sums = (await c.runAndReadAll(checksumSql(kind, relation, present))).getRows()[0];
  } catch (err) {
    return { state: 'corrupt', reason: `unreadable rows: ${firstLine(err)}` };
  }
  if (Number(sums[0]) !== meta.rows) return { state: 'corrupt', reason: `has ${Number(sums[0])} rows, its metadata says ${meta.rows}` };
  if (String(sums[1]) !== meta.checksum) return { state: 'corrupt', reason: 'content checksum does not match its metadata' };
  return { state: 'valid', rows: meta.rows, checksum: meta.checksum, meta };
}

function unitOfFileName(name: string): string | undefined {
  if (!name.startsWith('part-') || !name.endsWith('.parquet') || isCompactedShardFile(name)) return undefined;
  try {
    return decodeURIComponent(name.slice('part-'.length, -'.parquet'.length));
  } catch {
    return undefined;
  }
}

/**
 * A unit merged into a compacted shard. Only footers are read here (the merged file was verified
 * row by row when it was made, and `verify` re-checks it); resume asks this for every unit.
 */
async function compactedUnitStatus(duck: DuckDBInstance, dir: string, kind: ShardKind, unit: string): Promise<ShardStatus> {
  if (!existsSync(dir)) return { state: 'missing' };
  const compacted = readdirSync(dir).filter(isCompactedShardFile).sort();
  for (const name of compacted) {
    const path = join(dir, name);
    const status = await shardStatus(duck, path, kind, false);
    if (status.state === 'valid' && status.meta.units[unit] !== undefined) {
      return { ...status, rows: status.meta.units[unit], compactedInto: path };
    }
  }
  return { state: 'missing' };
}

export type UnitStatus =
  { state: 'missing' } | { state: 'valid'; rows: number; checksum: string; path: string } | { state: 'quarantined'; reason: string; quarantinedTo: string };

/**
 * What resume needs for a work unit: 'valid' (done: skip it), 'missing' (do it), or 'quarantined'
 * (its shard was corrupt and has been moved aside: redo it, and report the move).
 */
export async function unitStatus(duck: DuckDBInstance, root: string, target: ShardTarget & { partition: Partition }, deep = true): Promise<UnitStatus> {
  const path = shardPath(root, target.corpus, target.kind, target.partition, target.unitId);
  const status = await shardStatus(duck, path, target.kind, deep);
  if (status.state === 'missing') return status;
  if (status.state === 'valid') return { state: 'valid', rows: status.rows, checksum: status.checksum, path: status.compactedInto ?? path };
  return { state: 'quarantined', reason: status.reason, quarantinedTo: quarantine(root, target.corpus, path) };
}

/** Moves a corrupt shard to <corpus>/quarantine/ (keeping its relative path) so it is redone, never read. */
export function quarantine(root: string, corpus: string, path: string): string {
  const base = corpusDir(root, corpus);
  const target = join(quarantineDir(root, corpus), `${relative(base, path)}.${Date.now()}`);
  mkdirSync(dirname(target), { recursive: true });
  renameSync(path, target);
  fsyncPath(dirname(path));
  return target;
}

export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

export { shardDir, shardFileName, shardPath } from './paths';
