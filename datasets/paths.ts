import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorTypes, MetError } from '../common/errors';
import { checkName, NAME_PATTERN } from '../common/names';
import { PARTITION_COLUMNS, PARTITION_FIELDS, type ShardKind } from './tables';

/**
 * Where a corpus lives on disk:
 *   <root>/corpus/<name>/<kind>/<key>=<value>/.../part-<unit>.parquet
 *   <root>/corpus/<name>/quarantine/...           corrupt shards, moved aside
 * Partition values and unit ids are percent-encoded: every byte of their UTF-8 outside
 * [A-Za-z0-9_-] (and '.' after the first character) becomes %XX, the literal value NULL becomes
 * %4EULL (DuckDB reads a raw NULL folder as SQL NULL). DuckDB and pyarrow both URL-decode hive
 * folder values, so `meta-llama/Llama-3 8B` reads back exactly from `model=meta-llama%2FLlama-3%208B`.
 */
export type Partition = Record<string, string>;

export function checkCorpusName(name: string): string {
  return checkName('corpus name', name);
}

export function encodePathValue(value: string): string {
  if (value.length === 0) throw new MetError(ErrorTypes.BadInput, 'partition values and unit ids must not be empty');
  if (value === 'NULL') return '%4EULL';
  let out = '';
  const bytes = Buffer.from(value, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    const keep = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b === 0x2d || (b === 0x2e && i > 0);
    out += keep ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length > 200)
    throw new MetError(ErrorTypes.BadInput, `'${value.slice(0, 40)}...' is too long for a folder name (${out.length} bytes encoded, at most 200)`);
  return out;
}

export function decodePathValue(encoded: string): string {
  return decodeURIComponent(encoded);
}

/** The data folder's prompt files: the first root prompt files and sets are read from. */
export function promptsDir(root: string): string {
  return join(root, 'prompts');
}

export function corpusDir(root: string, corpus: string): string {
  return join(root, 'corpus', checkCorpusName(corpus));
}

export function kindDir(root: string, corpus: string, kind: ShardKind): string {
  return join(corpusDir(root, corpus), kind);
}

export function quarantineDir(root: string, corpus: string): string {
  return join(corpusDir(root, corpus), 'quarantine');
}

/** The folder of a partition: one `<column>=<encoded value>` level per partition field. */
export function shardDir(root: string, corpus: string, kind: ShardKind, partition: Partition): string {
  const levels = PARTITION_FIELDS[kind].map((field, i) => {
    const value = partition[field];
    if (typeof value !== 'string' || value.length === 0) {
      throw new MetError(ErrorTypes.BadInput, `${kind} shards need partition.${field} (partition fields: ${PARTITION_FIELDS[kind].join(', ') || 'none'})`);
    }
    return `${PARTITION_COLUMNS[kind][i].name}=${encodePathValue(value)}`;
  });
  const extra = Object.keys(partition).filter((k) => !PARTITION_FIELDS[kind].includes(k));
  if (extra.length)
    throw new MetError(
      ErrorTypes.BadInput,
      `${kind} shards are not partitioned by ${extra.join(', ')} (partition fields: ${PARTITION_FIELDS[kind].join(', ') || 'none'})`,
    );
  return join(kindDir(root, corpus, kind), ...levels);
}

export function shardFileName(unitId: string): string {
  return `part-${encodePathValue(unitId)}.parquet`;
}

export function shardPath(root: string, corpus: string, kind: ShardKind, partition: Partition, unitId: string): string {
  return join(shardDir(root, corpus, kind, partition), shardFileName(unitId));
}

/** A shard's file name is `part-<name>.parquet`; temporaries start with '.', compactions with `part-compact-`. */
export const isShardFile = (name: string): boolean => name.startsWith('part-') && name.endsWith('.parquet');
export const isCompactedShardFile = (name: string): boolean => name.startsWith('part-compact-') && name.endsWith('.parquet');
export const isTempFile = (name: string): boolean => name.startsWith('.tmp-');

/** The partition folders of a kind that exist (leaf folders, where the shards are). */
export function listPartitionDirs(root: string, corpus: string, kind: ShardKind): { dir: string; partition: Partition }[] {
  const out: { dir: string; partition: Partition }[] = [];
  const cols = PARTITION_COLUMNS[kind];
  const walk = (dir: string, depth: number, partition: Partition) => {
    if (depth === cols.length) {
      out.push({ dir, partition });
      return;
    }
    if (!existsSync(dir)) return;
    const prefix = `${cols[depth].name}=`;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !entry.name.startsWith(prefix)) continue;
      walk(join(dir, entry.name), depth + 1, { ...partition, [cols[depth].field]: decodePathValue(entry.name.slice(prefix.length)) });
    }
  };
  const base = kindDir(root, corpus, kind);
  if (existsSync(base)) walk(base, 0, {});
  return out.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
}

export interface ShardFile {
  path: string;
  kind: ShardKind;
  partition: Partition;
  name: string;
}

/** Every committed shard of a kind (temporaries, journals and quarantine excluded), sorted by path. */
export function listShards(root: string, corpus: string, kind: ShardKind): ShardFile[] {
  const out: ShardFile[] = [];
  for (const { dir, partition } of listPartitionDirs(root, corpus, kind)) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isFile() && isShardFile(entry.name)) out.push({ path: join(dir, entry.name), kind, partition, name: entry.name });
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Temporary files left in a kind's partition folders (a writer in progress, or a crash leftover). */
export function listTempFiles(root: string, corpus: string, kind: ShardKind): string[] {
  const out: string[] = [];
  for (const { dir } of listPartitionDirs(root, corpus, kind)) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isFile() && isTempFile(entry.name)) out.push(join(dir, entry.name));
  }
  return out.sort();
}

/** Corpora under a data root. */
export function listCorpora(root: string): string[] {
  const dir = join(root, 'corpus');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && NAME_PATTERN.test(e.name))
    .map((e) => e.name)
    .sort();
}
