import { existsSync, fsyncSync, mkdirSync, openSync, closeSync, readdirSync, renameSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { quotedString, withConnection } from './duck';
import { COLUMNS, META, PARTITION_KEYS, SCHEMA_VERSION, type ShardKind, checksumSql, jsonColumnsSql } from './tables';

/**
 * Shards: one immutable Parquet file per work unit, at
 *   <root>/corpus/<corpus>/<kind>/<key>=<value>/.../part-<unit>.parquet
 * written to a temporary name in the same folder, fsynced and renamed, so it exists complete or
 * not at all. Its key-value metadata records the schema version, row count and a content checksum;
 * a shard that fails to read or to match them is corrupt: it is moved to quarantine/ and redone.
 */
export type Partition = Record<string, string>;

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function corpusDir(root: string, corpus: string): string {
  return join(root, 'corpus', corpus);
}

export function shardDir(root: string, corpus: string, kind: ShardKind, partition: Partition): string {
  const parts = PARTITION_KEYS[kind].map((key) => {
    const value = partition[key];
    if (!value || !SAFE.test(value)) throw new MetError(ErrorTypes.BadInput, `partition ${key}='${value}' must be letters, digits, '.', '_' or '-'`);
    return `${key}=${value}`;
  });
  return join(corpusDir(root, corpus), kind, ...parts);
}

export function shardPath(root: string, corpus: string, kind: ShardKind, partition: Partition, unitId: string): string {
  if (!SAFE.test(unitId)) throw new MetError(ErrorTypes.BadInput, `unit id '${unitId}' must be letters, digits, '.', '_' or '-'`);
  return join(shardDir(root, corpus, kind, partition), `part-${unitId}.parquet`);
}

/** Converts a row (camelCase, Dates) to the NDJSON object DuckDB stages (snake_case). */
function toRecord(kind: ShardKind, row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of COLUMNS[kind]) {
    let v = row[c.field];
    if (v instanceof Date) v = v.toISOString();
    else if (c.name === 'sampling' && v && typeof v === 'object') {
      const s = v as { temperature: number; topP: number; maxTokens: number; stop: string[]; endpoint: string };
      v = { temperature: s.temperature, top_p: s.topP, max_tokens: s.maxTokens, stop: s.stop, endpoint: s.endpoint };
    }
    out[c.name] = v ?? null;
  }
  return out;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface WrittenShard {
  path: string;
  rows: number;
  checksum: string;
}

/** Writes rows as one shard atomically. An existing valid shard for the unit is kept as is. */
export async function writeShard(
  duck: DuckDBInstance,
  root: string,
  target: { corpus: string; kind: ShardKind; partition: Partition; unitId: string },
  rows: Record<string, unknown>[],
): Promise<WrittenShard> {
  const path = shardPath(root, target.corpus, target.kind, target.partition, target.unitId);
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const stem = `.tmp-${target.unitId}-${process.pid}-${Date.now()}`;
  const staging = join(dir, `${stem}.ndjson`);
  const temp = join(dir, `${stem}.parquet`);
  try {
    writeFileSync(staging, rows.map((r) => JSON.stringify(toRecord(target.kind, r))).join('\n') + (rows.length ? '\n' : ''));
    const result = await withConnection(duck, async (c) => {
      const table = `stage_${process.pid}_${Math.random().toString(36).slice(2)}`;
      await c.run(
        `CREATE TEMP TABLE ${table} AS SELECT * FROM read_json(${quotedString(staging)}, format='newline_delimited', columns=${jsonColumnsSql(target.kind)})`,
      );
      try {
        const sums = (await c.runAndReadAll(checksumSql(target.kind, table))).getRowObjects()[0];
        const n = Number(sums.n);
        if (n !== rows.length) throw new Error(`staged ${n} of ${rows.length} rows`);
        const checksum = String(sums.h);
        const meta = `{${META.version}: '${SCHEMA_VERSION}', ${META.kind}: '${target.kind}', ${META.rows}: '${n}', ${META.checksum}: '${checksum}', ${META.unit}: ${quotedString(target.unitId)}}`;
        await c.run(
          `COPY ${table} TO ${quotedString(temp)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE_BYTES '64MB', KV_METADATA ${meta})`,
        );
        return { rows: n, checksum };
      } finally {
        await c.run(`DROP TABLE IF EXISTS ${table}`);
      }
    });
    fsyncPath(temp);
    renameSync(temp, path);
    fsyncPath(dir);
    return { path, ...result };
  } finally {
    rmSync(staging, { force: true });
    rmSync(temp, { force: true });
  }
}

export type ShardStatus = { state: 'missing' } | { state: 'valid'; rows: number; checksum: string } | { state: 'corrupt'; reason: string };

/** Reads a shard's metadata and content checksum; never trusts a file it cannot fully read. */
export async function shardStatus(duck: DuckDBInstance, path: string, kind: ShardKind, deep = true): Promise<ShardStatus> {
  if (!existsSync(path)) return { state: 'missing' };
  try {
    return await withConnection(duck, async (c) => {
      const meta = new Map(
        (await c.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${quotedString(path)})`))
          .getRowObjects()
          .map((r) => [String(r.k), String(r.v)]),
      );
      const version = Number(meta.get(META.version));
      if (!Number.isFinite(version)) return { state: 'corrupt', reason: 'no met schema version in metadata' } as const;
      if (version > SCHEMA_VERSION) {
        throw new MetError(ErrorTypes.SchemaVersion, `${path} has met schema version ${version}, newer than this met (${SCHEMA_VERSION}): upgrade met to read it`);
      }
      const rows = Number(meta.get(META.rows));
      const checksum = meta.get(META.checksum) ?? '';
      if (!deep) return { state: 'valid', rows, checksum } as const;
      const sums = (await c.runAndReadAll(checksumSql(kind, `read_parquet(${quotedString(path)})`))).getRowObjects()[0];
      if (Number(sums.n) !== rows) return { state: 'corrupt', reason: `has ${sums.n} rows, metadata says ${rows}` } as const;
      if (String(sums.h) !== checksum) return { state: 'corrupt', reason: 'content checksum does not match metadata' } as const;
      return { state: 'valid', rows, checksum } as const;
    });
  } catch (err) {
    if (err instanceof MetError) throw err;
    return { state: 'corrupt', reason: (err as Error).message.split('\n')[0] };
  }
}

/** Moves a corrupt shard to <corpus>/quarantine/ (keeping its relative path) so it is redone, not read. */
export function quarantine(root: string, corpus: string, path: string): string {
  const base = corpusDir(root, corpus);
  const target = join(base, 'quarantine', `${relative(base, path)}.${Date.now()}`);
  mkdirSync(dirname(target), { recursive: true });
  renameSync(path, target);
  return target;
}

/** Every shard file of a kind under a corpus (excluding temporaries and quarantine). */
export function listShards(root: string, corpus: string, kind: ShardKind): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.startsWith('part-') && name.endsWith('.parquet')) out.push(p);
    }
  };
  walk(join(corpusDir(root, corpus), kind));
  return out.sort();
}

/** The glob DuckDB reads a kind of a corpus with (hive partitioning on). */
export function corpusGlob(root: string, corpus: string, kind: ShardKind): string {
  const depth = PARTITION_KEYS[kind].map(() => '*').join('/');
  return join(corpusDir(root, corpus), kind, depth, 'part-*.parquet');
}
