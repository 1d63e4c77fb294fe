import { z } from 'zod';
import { quotedIdentifier } from '@duckdb/node-api';
import { AuditRow, LogprobRow, PowerCellRow, PromptRow, SampleRow, SCHEMA_VERSION, TestResultRow } from './schemas';

/**
 * Parquet/DuckDB layout of each kind of shard: one column per schema field, snake_case, in file
 * order. The partition fields (model and source; scorer model, model and source for logprobs) are
 * folder names (hive-style `model=<m>/source=<s>/`), not file columns, so DuckDB and pyarrow read a
 * kind's folder as one dataset; every other field is a column.
 */
export const SHARD_KINDS = ['samples', 'logprobs', 'prompts', 'tests', 'power', 'audits'] as const;
export type ShardKind = (typeof SHARD_KINDS)[number];

export type ScalarType = 'varchar' | 'int32' | 'int64' | 'float32' | 'float64' | 'boolean' | 'timestamptz';
export type ColumnType = ScalarType | { list: 'int32' | 'float32' | 'float64' | 'varchar' } | { struct: Column[] };

export interface Column {
  /** Parquet column name (snake_case). */
  name: string;
  /** Row field (camelCase). */
  field: string;
  type: ColumnType;
  nullable: boolean;
}

const c = (name: string, field: string, type: ColumnType, nullable = false): Column => ({ name, field, type, nullable });

const SAMPLING: Column[] = [
  c('temperature', 'temperature', 'float64'),
  c('top_p', 'topP', 'float64'),
  c('max_tokens', 'maxTokens', 'int32'),
  c('stop', 'stop', { list: 'varchar' }),
  c('endpoint', 'endpoint', 'varchar'),
];

/** Every column of a kind's rows, partition fields included (they are dropped from files). */
const ALL_COLUMNS: Record<ShardKind, Column[]> = {
  samples: [
    c('corpus', 'corpus', 'varchar'),
    c('run_id', 'runId', 'varchar'),
    c('unit_id', 'unitId', 'varchar'),
    c('model', 'model', 'varchar'),
    c('source', 'source', 'varchar'),
    c('prompt_set', 'promptSet', 'varchar'),
    c('prompt_id', 'promptId', 'varchar'),
    c('sample_index', 'sampleIndex', 'int32'),
    c('prompt', 'prompt', 'varchar'),
    c('completion', 'completion', 'varchar', true),
    c('token_ids', 'tokenIds', { list: 'int32' }, true),
    c('token_logprobs', 'tokenLogprobs', { list: 'float32' }, true),
    c('finish_reason', 'finishReason', 'varchar'),
    c('sampling', 'sampling', { struct: SAMPLING }),
    c('seed', 'seed', 'int64', true),
    c('provider_model', 'providerModel', 'varchar', true),
    c('request_id', 'requestId', 'varchar', true),
    c('latency_ms', 'latencyMs', 'float64', true),
    c('created_at', 'createdAt', 'timestamptz'),
    c('sampler', 'sampler', 'varchar', true),
    c('prompt_tokens', 'promptTokens', 'int32', true),
    c('completion_tokens', 'completionTokens', 'int32', true),
  ],
  logprobs: [
    c('corpus', 'corpus', 'varchar'),
    c('scorer_model', 'scorerModel', 'varchar'),
    c('model', 'model', 'varchar'),
    c('source', 'source', 'varchar'),
    c('prompt_id', 'promptId', 'varchar'),
    c('sample_index', 'sampleIndex', 'int32'),
    c('scorer_precision', 'scorerPrecision', 'varchar'),
    c('token_ids', 'tokenIds', { list: 'int32' }),
    c('token_logprobs', 'tokenLogprobs', { list: 'float64' }),
    c('sum', 'sum', 'float64'),
    c('count', 'count', 'int32'),
    c('scorer_backend', 'scorerBackend', 'varchar', true),
    c('token_ranks', 'tokenRanks', { list: 'int32' }, true),
  ],
  prompts: [
    c('prompt_set', 'promptSet', 'varchar'),
    c('prompt_id', 'promptId', 'varchar'),
    c('source_dataset', 'sourceDataset', 'varchar'),
    c('language', 'language', 'varchar', true),
    c('text', 'text', 'varchar'),
    c('messages', 'messages', 'varchar', true),
  ],
  tests: [
    c('corpus', 'corpus', 'varchar'),
    c('run_id', 'runId', 'varchar'),
    c('test_id', 'testId', 'varchar'),
    c('statistic', 'statistic', 'varchar'),
    c('unit', 'unit', 'varchar'),
    c('L', 'L', 'int32'),
    c('x_model', 'xModel', 'varchar'),
    c('x_source', 'xSource', 'varchar'),
    c('y_model', 'yModel', 'varchar', true),
    c('y_source', 'ySource', 'varchar', true),
    c('reference', 'reference', 'varchar', true),
    c('prompt_set', 'promptSet', 'varchar'),
    c('m', 'm', 'int32'),
    c('n1', 'n1', 'int32'),
    c('n2', 'n2', 'int32', true),
    c('value', 'value', 'float64'),
    c('p_value', 'pValue', 'float64'),
    c('alpha', 'alpha', 'float64'),
    c('decision', 'decision', 'varchar'),
    c('pvalue_method', 'pvalueMethod', 'varchar'),
    c('b', 'b', 'int32'),
    c('seed', 'seed', 'int64', true),
    c('duration_ms', 'durationMs', 'float64', true),
    c('created_at', 'createdAt', 'timestamptz'),
    c('null_statistics', 'nullStatistics', { list: 'float64' }, true),
  ],
  power: [
    c('corpus', 'corpus', 'varchar'),
    c('run_id', 'runId', 'varchar'),
    c('cell_id', 'cellId', 'varchar'),
    c('statistic', 'statistic', 'varchar'),
    c('unit', 'unit', 'varchar'),
    c('L', 'L', 'int32'),
    c('reference', 'reference', 'varchar'),
    c('alternative', 'alternative', 'varchar'),
    c('is_null', 'isNull', 'boolean'),
    c('n_per_prompt', 'nPerPrompt', 'int32'),
    c('m', 'm', 'int32'),
    c('subset_draw', 'subsetDraw', 'int32'),
    c('sims', 'sims', 'int32'),
    c('rejections', 'rejections', 'int32'),
    c('power', 'power', 'float64'),
    c('alpha', 'alpha', 'float64'),
    c('b', 'b', 'int32'),
    c('seed', 'seed', 'int64', true),
    c('duration_ms', 'durationMs', 'float64', true),
    c('created_at', 'createdAt', 'timestamptz'),
    c('reference2', 'reference2', 'varchar', true),
    c('sim_seeds', 'simSeeds', { list: 'float64' }, true),
    c('sim_statistics', 'simStatistics', { list: 'float64' }, true),
    c('sim_pvalues', 'simPvalues', { list: 'float64' }, true),
    c('sim_statistics2', 'simStatistics2', { list: 'float64' }, true),
    c('sim_pvalues2', 'simPvalues2', { list: 'float64' }, true),
    c('warnings', 'warnings', { list: 'varchar' }),
  ],
  audits: [
    c('corpus', 'corpus', 'varchar'),
    c('audit', 'audit', 'varchar'),
    c('firing_id', 'firingId', 'varchar'),
    c('time', 'time', 'timestamptz'),
    c('endpoint', 'endpoint', 'varchar'),
    c('model', 'model', 'varchar'),
    c('source', 'source', 'varchar'),
    c('reference', 'reference', 'varchar'),
    c('test_id', 'testId', 'varchar'),
    c('statistic', 'statistic', 'varchar'),
    c('value', 'value', 'float64'),
    c('p_value', 'pValue', 'float64'),
    c('alpha', 'alpha', 'float64'),
    c('n1', 'n1', 'int32'),
    c('n2', 'n2', 'int32'),
    c('m', 'm', 'int32'),
    c('reject', 'reject', 'boolean'),
    c('verdict', 'verdict', 'varchar'),
    c('changed', 'changed', 'boolean'),
    c('confirmations', 'confirmations', 'int32'),
    c('prompt_tokens', 'promptTokens', 'int64', true),
    c('completion_tokens', 'completionTokens', 'int64', true),
    c('counted_completion_tokens', 'countedCompletionTokens', 'int64', true),
    c('billing_ratio', 'billingRatio', 'float64', true),
    c('billing_max_ratio', 'billingMaxRatio', 'float64', true),
    c('requests', 'requests', 'int64', true),
    c('tracking', 'tracking', 'varchar', true),
    c('identify', 'identify', 'varchar', true),
  ],
};

/**
 * Nullable columns added after a kind's first files were written, last in file order. Older files
 * lack them: readers of several files use `union_by_name` (a missing column reads as NULL), and a
 * column of this list adds to a row's checksum hash only when it is set, so an older shard keeps
 * its checksum and a compaction of older and newer shards adds up.
 */
export const ADDED_COLUMNS: Record<ShardKind, string[]> = {
  samples: ['sampler', 'prompt_tokens', 'completion_tokens'],
  logprobs: ['scorer_backend', 'token_ranks'],
  prompts: [],
  tests: [],
  power: [],
  audits: ['counted_completion_tokens', 'billing_ratio', 'billing_max_ratio', 'requests', 'tracking', 'identify'],
};

/** `, union_by_name = true` for kinds whose files may differ in their added columns. */
export function unionByNameOption(kind: ShardKind): string {
  return ADDED_COLUMNS[kind].length ? ', union_by_name = true' : '';
}

/** Partition fields of each kind, in folder order (row field names; folders use the column names). */
export const PARTITION_FIELDS: Record<ShardKind, string[]> = {
  samples: ['model', 'source'],
  logprobs: ['scorerModel', 'model', 'source'],
  prompts: [],
  tests: [],
  power: [],
  audits: [],
};

/** Partition columns of each kind: the folder keys (`scorer_model=...`). */
export const PARTITION_COLUMNS: Record<ShardKind, Column[]> = Object.fromEntries(
  SHARD_KINDS.map((kind) => [kind, PARTITION_FIELDS[kind].map((f) => ALL_COLUMNS[kind].find((col) => col.field === f)!)]),
) as Record<ShardKind, Column[]>;

/** Columns stored in each kind's files (partition columns excluded), in file order. */
export const FILE_COLUMNS: Record<ShardKind, Column[]> = Object.fromEntries(
  SHARD_KINDS.map((kind) => [kind, ALL_COLUMNS[kind].filter((col) => !PARTITION_FIELDS[kind].includes(col.field))]),
) as Record<ShardKind, Column[]>;

/** Every column of a kind's dataset as the views show it (file columns first, then partitions). */
export function datasetColumns(kind: ShardKind): Column[] {
  return [...FILE_COLUMNS[kind], ...PARTITION_COLUMNS[kind]];
}

export const ROW_SCHEMAS: Record<ShardKind, z.ZodType> = {
  samples: SampleRow,
  logprobs: LogprobRow,
  prompts: PromptRow,
  tests: TestResultRow,
  power: PowerCellRow,
  audits: AuditRow,
};

/**
 * What writeShard parses with zod: the row schema less its lists of numbers, whose elements the
 * columnar copy checks itself while copying them (finite numbers, 32-bit integers for token ids,
 * null only where allowed): the same rules, without zod's per-element cost (5x faster on samples).
 */
export const WRITE_SCHEMAS: Record<ShardKind, z.ZodType> = Object.fromEntries(
  SHARD_KINDS.map((kind) => {
    const schema = ROW_SCHEMAS[kind];
    const numericLists = ALL_COLUMNS[kind]
      .filter((col) => typeof col.type === 'object' && 'list' in col.type && col.type.list !== 'varchar')
      .map((col) => col.field);
    // zod cannot omit fields of a refined object (power rows): those are parsed whole, lists are short there.
    if (numericLists.length === 0 || !(schema instanceof z.ZodObject) || (schema._zod.def.checks?.length ?? 0) > 0) return [kind, schema];
    return [kind, schema.omit(Object.fromEntries(numericLists.map((f) => [f, true])) as never)];
  }),
) as Record<ShardKind, z.ZodType>;

/** The key that identifies one row of a kind; `verify` and `compact` refuse duplicates of it. */
export const ROW_KEYS: Record<ShardKind, string[]> = {
  samples: ['corpus', 'model', 'source', 'prompt_id', 'sample_index'],
  logprobs: ['corpus', 'scorer_model', 'scorer_precision', 'model', 'source', 'prompt_id', 'sample_index'],
  prompts: ['prompt_set', 'prompt_id'],
  tests: ['corpus', 'run_id', 'test_id'],
  power: ['corpus', 'run_id', 'cell_id'],
  audits: ['corpus', 'audit', 'firing_id', 'endpoint'],
};

export function sqlType(type: ColumnType): string {
  if (typeof type === 'string') {
    return { varchar: 'VARCHAR', int32: 'INTEGER', int64: 'BIGINT', float32: 'FLOAT', float64: 'DOUBLE', boolean: 'BOOLEAN', timestamptz: 'TIMESTAMPTZ' }[type];
  }
  if ('list' in type) return `${sqlType(type.list)}[]`;
  return `STRUCT(${type.struct.map((f) => `${quotedIdentifier(f.name)} ${sqlType(f.type)}`).join(', ')})`;
}

/** `CREATE TABLE` column list of a kind's files. */
export function tableDdl(kind: ShardKind): string {
  return FILE_COLUMNS[kind].map((col) => `${quotedIdentifier(col.name)} ${sqlType(col.type)}`).join(', ');
}

/** Key-value metadata keys met writes into every shard's Parquet footer. */
export const META = {
  version: 'met_schema_version',
  kind: 'met_kind',
  rows: 'met_rows',
  checksum: 'met_checksum',
  checksumAlgorithm: 'met_checksum_algorithm',
  corpus: 'met_corpus',
  partition: 'met_partition',
  /** JSON: the unit ids a shard holds with their row counts (one unit, or many after compaction). */
  units: 'met_units',
  writer: 'met_writer',
} as const;

/**
 * The content checksum: the sum over rows of DuckDB's 64-bit hash of all file columns, modulo
 * 2^64, as a decimal string. Order-independent and additive, so a compacted shard's checksum is
 * the sum of its inputs'. DuckDB's hash is pinned with the locked DuckDB version; a golden-value
 * test fails if an upgrade changes it (then bump CHECKSUM_ALGORITHM and keep reading the old one).
 */
export const CHECKSUM_ALGORITHM = 'duckdb-hash-sum64-v1';
const TWO_64 = '18446744073709551616';

export function checksumSql(kind: ShardKind, relation: string, present?: readonly string[]): string {
  const added = ADDED_COLUMNS[kind];
  const cols = FILE_COLUMNS[kind]
    .filter((col) => !added.includes(col.name))
    .map((col) => quotedIdentifier(col.name))
    .join(', ');
  // Added columns (those the relation has): each one set adds its own hash; NULL adds nothing.
  const extra = added
    .filter((name) => !present || present.includes(name))
    .map((name) => ` + CASE WHEN ${quotedIdentifier(name)} IS NULL THEN 0 ELSE hash(${quotedIdentifier(name)})::HUGEINT END`)
    .join('');
  return `SELECT count(*)::BIGINT AS n, (coalesce(sum(hash(${cols})::HUGEINT${extra}), 0) % ${TWO_64})::UBIGINT::VARCHAR AS h FROM ${relation}`;
}

/** Adds checksums modulo 2^64 (the checksum of a union of shards). */
export function addChecksums(checksums: string[]): string {
  const mod = 1n << 64n;
  return checksums.reduce((acc, c) => (acc + BigInt(c)) % mod, 0n).toString();
}

export { SCHEMA_VERSION };
