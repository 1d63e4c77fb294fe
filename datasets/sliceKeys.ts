import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { INTEGER, LIST, listValue, VARCHAR, type DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { withConnection } from './duck';
import { isShardFile, shardDir, shardFileName } from './paths';
import { checkVersions, readParquetSql } from './views';

/**
 * A slice (corpus, model, source) is a set of sample keys (prompt_id, sample_index): no key twice,
 * in a folder or a bucket alike (docs/slices.md). Duplicates make each side of a test look more
 * self-similar than it is, so met's own bookkeeping could make an honest endpoint look guilty;
 * these are the checks that keep a slice a set: at commit (a shard adding keys the slice already
 * holds is refused), when a run plans (it samples only the keys the slice lacks), and when a test
 * reads a slice (one holding duplicates is refused).
 */
export interface SliceRef {
  corpus: string;
  model: string;
  source: string;
}

export const sliceName = (s: SliceRef): string => `${s.corpus}:${s.model}/${s.source}`;

/** The committed sample shards of a slice under a root (a folder, or a bucket's synced cache tree). */
export function sliceShardFiles(root: string, slice: SliceRef): string[] {
  const dir = shardDir(root, slice.corpus, 'samples', { model: slice.model, source: slice.source });
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter(isShardFile)
    .sort()
    .map((name) => join(dir, name));
}

export interface SliceHoldings {
  /** Rows of other runs (the planning run's own rows left out). */
  rows: number;
  /** Per prompt id: how many keys other runs hold and the largest sample index among them. */
  perPrompt: Map<string, { count: number; maxIndex: number }>;
  /** Keys held more than once (over the whole slice, this run included). */
  duplicateKeys: number;
  /** The distinct `sampler` JSON records of other runs' rows (null: rows written before the column). */
  samplers: (string | null)[];
  /** The distinct `sampling` settings (temperature, top-p, max tokens, stop, endpoint) of other runs' rows, as JSON. */
  samplings: string[];
  /** Ids of the other runs that wrote into the slice. */
  runIds: string[];
}

/** What a slice holds, as seen by a run about to grow it (`excludeRunId`: the run's own rows, from earlier executions). */
export async function sliceHoldings(duck: DuckDBInstance, root: string, slice: SliceRef, excludeRunId: string): Promise<SliceHoldings> {
  const files = sliceShardFiles(root, slice);
  const empty: SliceHoldings = { rows: 0, perPrompt: new Map(), duplicateKeys: 0, samplers: [], samplings: [], runIds: [] };
  if (files.length === 0) return empty;
  return withConnection(duck, async (c) => {
    await checkVersions(c, files);
    const params = { files: listValue(files), run: excludeRunId };
    const types = { files: LIST(VARCHAR), run: VARCHAR };
    const from = readParquetSql('samples');
    const dup = await c.runAndReadAll(
      `SELECT (count(*) - count(DISTINCT (prompt_id, sample_index)))::BIGINT FROM ${from}`,
      { files: params.files },
      { files: types.files },
    );
    const per = await c.runAndReadAll(
      `SELECT prompt_id, count(*)::BIGINT, max(sample_index)::BIGINT FROM ${from} WHERE run_id <> $run GROUP BY prompt_id`,
      params,
      types,
    );
    const meta = await c.runAndReadAll(
      `SELECT list(DISTINCT sampler), list(DISTINCT to_json(sampling)::VARCHAR), list(DISTINCT run_id), bool_or(sampler IS NULL) FROM ${from} WHERE run_id <> $run`,
      params,
      types,
    );
    const perPrompt = new Map<string, { count: number; maxIndex: number }>();
    let rows = 0;
    for (const [id, n, max] of per.getRows()) {
      perPrompt.set(String(id), { count: Number(n), maxIndex: Number(max) });
      rows += Number(n);
    }
    const [samplers, samplings, runIds, anyNull] = meta.getRows()[0] ?? [];
    const list = (v: unknown): string[] => ((v as { items?: unknown[] } | null)?.items ?? []).filter((x) => x !== null).map(String);
    return {
      rows,
      perPrompt,
      duplicateKeys: Number(dup.getRows()[0][0]),
      samplers: [...list(samplers), ...(anyNull === true ? [null] : [])],
      samplings: list(samplings),
      runIds: list(runIds).sort(),
    };
  });
}

/** Number of keys held more than once in a slice. */
export async function sliceDuplicateCount(duck: DuckDBInstance, root: string, slice: SliceRef): Promise<number> {
  const files = sliceShardFiles(root, slice);
  if (files.length === 0) return 0;
  return withConnection(duck, async (c) => {
    await checkVersions(c, files);
    const r = await c.runAndReadAll(
      `SELECT (count(*) - count(DISTINCT (prompt_id, sample_index)))::BIGINT FROM ${readParquetSql('samples')}`,
      { files: listValue(files) },
      { files: LIST(VARCHAR) },
    );
    return Number(r.getRows()[0][0]);
  });
}

/** Refuses a slice that holds a key twice, naming it and the commands that fix it. */
export async function assertSliceIsASet(duck: DuckDBInstance, root: string, slice: SliceRef): Promise<void> {
  const dups = await sliceDuplicateCount(duck, root, slice);
  if (dups > 0) {
    throw new MetError(
      ErrorTypes.DuplicateSamples,
      `slice ${sliceName(slice)} holds ${dups} duplicate sample key(s) (the same prompt_id and sample_index more than once); met will not test it, since duplicates make a sample look more self-similar than it is. Run 'met corpus verify ${slice.corpus}' to list them, then move the shards of the run that added them out of the slice (met corpus query shows each key's run_id and unit_id), or collect under a new source label`,
    );
  }
}

/**
 * Keys of `rows` that the slice already holds in a shard other than `unitId`'s own (a retry of the
 * same unit, or another host that committed the same unit, is the same shard and not a conflict).
 */
export async function heldKeys(
  duck: DuckDBInstance,
  root: string,
  slice: SliceRef,
  unitId: string,
  rows: readonly { promptId: string; sampleIndex: number }[],
): Promise<{ promptId: string; sampleIndex: number; file: string }[]> {
  const own = shardFileName(unitId);
  const files = sliceShardFiles(root, slice).filter((f) => !f.endsWith(`/${own}`));
  if (files.length === 0 || rows.length === 0) return [];
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    lo = Math.min(lo, r.sampleIndex);
    hi = Math.max(hi, r.sampleIndex);
  }
  const prompts = [...new Set(rows.map((r) => r.promptId))];
  return withConnection(duck, async (c) => {
    await checkVersions(c, files);
    // Row groups outside the unit's prompts and index range are skipped by their statistics.
    const r = await c.runAndReadAll(
      `SELECT prompt_id, sample_index, filename FROM read_parquet($files::VARCHAR[], filename = true, hive_partitioning = false, union_by_name = true)
       WHERE sample_index BETWEEN $lo AND $hi AND list_contains($prompts, prompt_id)`,
      { files: listValue(files), lo, hi, prompts: listValue(prompts) },
      { files: LIST(VARCHAR), lo: INTEGER, hi: INTEGER, prompts: LIST(VARCHAR) },
    );
    const wanted = new Set(rows.map((x) => `${x.promptId}\u0000${x.sampleIndex}`));
    return r
      .getRows()
      .filter(([p, i]) => wanted.has(`${String(p)}\u0000${Number(i)}`))
      .map(([p, i, f]) => ({ promptId: String(p), sampleIndex: Number(i), file: String(f) }));
  });
}

/**
 * The distinct sampler records (JSON) of a slice's shards other than `unitId`'s own: what the model
 * workers that sampled it recorded as their route (engine, GGUF type). Rows written before the
 * column (null) are left out.
 */
export async function sliceSamplers(duck: DuckDBInstance, root: string, slice: SliceRef, unitId: string): Promise<string[]> {
  const own = shardFileName(unitId);
  const files = sliceShardFiles(root, slice).filter((f) => !f.endsWith(`/${own}`));
  if (files.length === 0) return [];
  return withConnection(duck, async (c) => {
    await checkVersions(c, files);
    const r = await c.runAndReadAll(
      `SELECT DISTINCT sampler FROM ${readParquetSql('samples')} WHERE sampler IS NOT NULL`,
      { files: listValue(files) },
      { files: LIST(VARCHAR) },
    );
    return r
      .getRows()
      .map(([s]) => String(s))
      .sort();
  });
}
