import { SCHEMA_VERSION } from './schemas';

/**
 * Parquet column layout of each kind of shard: snake_case names and DuckDB types, in file order.
 * The partition columns (model, source, and scorer for logprobs) are in the folder names
 * (hive-style), not in the files, so DuckDB and pyarrow read a corpus folder as one dataset.
 */
export type ShardKind = 'samples' | 'logprobs' | 'prompts';

export interface Column {
  name: string;
  type: string;
  /** The row field it comes from (camelCase), when it differs from a plain rename. */
  field: string;
}

const col = (name: string, type: string, field: string): Column => ({ name, type, field });

export const COLUMNS: Record<ShardKind, Column[]> = {
  samples: [
    col('corpus', 'VARCHAR', 'corpus'),
    col('run_id', 'VARCHAR', 'runId'),
    col('unit_id', 'VARCHAR', 'unitId'),
    col('prompt_set', 'VARCHAR', 'promptSet'),
    col('prompt_id', 'VARCHAR', 'promptId'),
    col('sample_index', 'INTEGER', 'sampleIndex'),
    col('prompt', 'VARCHAR', 'prompt'),
    col('completion', 'VARCHAR', 'completion'),
    col('token_ids', 'INTEGER[]', 'tokenIds'),
    col('token_logprobs', 'FLOAT[]', 'tokenLogprobs'),
    col('finish_reason', 'VARCHAR', 'finishReason'),
    col('sampling', 'STRUCT(temperature DOUBLE, top_p DOUBLE, max_tokens INTEGER, stop VARCHAR[], endpoint VARCHAR)', 'sampling'),
    col('seed', 'BIGINT', 'seed'),
    col('provider_model', 'VARCHAR', 'providerModel'),
    col('request_id', 'VARCHAR', 'requestId'),
    col('latency_ms', 'DOUBLE', 'latencyMs'),
    col('created_at', 'TIMESTAMPTZ', 'createdAt'),
  ],
  logprobs: [
    col('corpus', 'VARCHAR', 'corpus'),
    col('prompt_id', 'VARCHAR', 'promptId'),
    col('sample_index', 'INTEGER', 'sampleIndex'),
    col('scorer_precision', 'VARCHAR', 'scorerPrecision'),
    col('token_ids', 'INTEGER[]', 'tokenIds'),
    col('token_logprobs', 'DOUBLE[]', 'tokenLogprobs'),
    col('sum', 'DOUBLE', 'sum'),
    col('count', 'INTEGER', 'count'),
  ],
  prompts: [
    col('prompt_set', 'VARCHAR', 'promptSet'),
    col('prompt_id', 'VARCHAR', 'promptId'),
    col('source_dataset', 'VARCHAR', 'sourceDataset'),
    col('language', 'VARCHAR', 'language'),
    col('text', 'VARCHAR', 'text'),
    col('messages', 'VARCHAR', 'messages'),
  ],
};

/** Folder partition keys of each kind, in path order. */
export const PARTITION_KEYS: Record<ShardKind, string[]> = {
  samples: ['model', 'source'],
  logprobs: ['scorer', 'model', 'source'],
  prompts: [],
};

/** Key-value metadata keys met writes into every shard. */
export const META = {
  version: 'met_schema_version',
  kind: 'met_kind',
  rows: 'met_rows',
  checksum: 'met_checksum',
  unit: 'met_unit',
} as const;

export { SCHEMA_VERSION };

/** `read_json` columns struct for staging NDJSON of a kind. */
export function jsonColumnsSql(kind: ShardKind): string {
  return `{${COLUMNS[kind].map((c) => `${c.name}: '${c.type}'`).join(', ')}}`;
}

/** Order-independent content checksum over all columns of a relation. */
export function checksumSql(kind: ShardKind, relation: string): string {
  return `SELECT count(*)::BIGINT AS n, coalesce(bit_xor(hash(${COLUMNS[kind].map((c) => c.name).join(', ')})), 0)::UBIGINT AS h FROM ${relation}`;
}
