import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { LIST, listValue, VARCHAR, type DuckDBConnection, type DuckDBInstance } from '@duckdb/node-api';
import { commitFile, fsyncPath } from '../common/files';
import { ErrorTypes, MetError } from '../common/errors';
import { quotedIdentifier, quotedString, withConnection } from './duck';
import { corpusDir, isShardFile, listCorpora, listPartitionDirs, listShards, listTempFiles, type Partition, type ShardFile } from './paths';
import { copyToParquet, firstLine, quarantine, rowGroupRows, SchemaVersionError, shardStatus, tempPath } from './shards';
import { addChecksums, datasetColumns, PARTITION_FIELDS, ROW_KEYS, SHARD_KINDS, type ShardKind, unionByNameOption } from './tables';
import { createCorpusViews, hiveTypesSql } from './views';

/**
 * Corpus-level operations behind `met corpus ...`: list, stats, verify, compact, export, query.
 * All of them read shards through DuckDB; verify and compact also check every row against the
 * footer's count and checksum.
 */

// ---------- ls ----------

export interface CorpusSummary {
  name: string;
  kinds: Partial<Record<ShardKind, { shards: number; rows: number; bytes: number }>>;
}

/** Corpora under a data root with shards, rows (from footers) and bytes per kind. */
export async function listCorpusSummaries(duck: DuckDBInstance, root: string): Promise<CorpusSummary[]> {
  const out: CorpusSummary[] = [];
  await withConnection(duck, async (c) => {
    for (const name of listCorpora(root)) {
      const summary: CorpusSummary = { name, kinds: {} };
      for (const kind of SHARD_KINDS) {
        const shards = listShards(root, name, kind);
        if (shards.length === 0) continue;
        const rows = await footerRows(
          c,
          shards.map((s) => s.path),
        );
        summary.kinds[kind] = { shards: shards.length, rows, bytes: shards.reduce((a, s) => a + statSync(s.path).size, 0) };
      }
      out.push(summary);
    }
  });
  return out;
}

async function footerRows(c: DuckDBConnection, files: string[]): Promise<number> {
  try {
    const r = await c.runAndReadAll(
      'SELECT sum(num_rows)::BIGINT FROM parquet_file_metadata($files::VARCHAR[])',
      { files: listValue(files) },
      { files: LIST(VARCHAR) },
    );
    return Number(r.getRows()[0][0] ?? 0);
  } catch {
    return Number.NaN;
  }
}

// ---------- stats ----------

export interface PartitionStats {
  model: string;
  source: string;
  rows: number;
  prompts: number;
  minPerPrompt: number;
  maxPerPrompt: number;
  /** Prompts with fewer samples than the partition's maximum, or with gaps in sample indices. */
  incompletePrompts: number;
  nullCompletions: number;
  finishReasons: Record<string, number>;
}

export interface CorpusStats {
  corpus: string;
  shards: Partial<Record<ShardKind, number>>;
  rows: Partial<Record<ShardKind, number>>;
  samples: PartitionStats[];
  /** Sample keys (model, source, prompt, sample index) present more than once. */
  duplicateKeys: number;
  duplicateExamples: string[];
  /** Logprob rows per scorer (model and precision) and how many samples they cover. */
  logprobs: { scorerModel: string; scorerPrecision: string; rows: number; samplesCovered: number }[];
  units: number;
}

export async function corpusStats(duck: DuckDBInstance, root: string, corpus: string): Promise<CorpusStats> {
  recoverCompactions(root, corpus);
  return withConnection(duck, async (c) => {
    await createCorpusViews(c, root, corpus);
    const shards: CorpusStats['shards'] = {};
    const rows: CorpusStats['rows'] = {};
    for (const kind of SHARD_KINDS) {
      const list = listShards(root, corpus, kind);
      if (list.length === 0) continue;
      shards[kind] = list.length;
      rows[kind] = Number((await c.runAndReadAll(`SELECT count(*) FROM ${quotedIdentifier(kind)}`)).getRows()[0][0]);
    }
    const perPrompt = `SELECT model, source, prompt_id, count(*) AS n, max(sample_index) + 1 AS span,
        count(*) FILTER (WHERE completion IS NULL) AS nulls FROM samples GROUP BY ALL`;
    const parts = await c.runAndReadAll(`WITH pp AS (${perPrompt}), mx AS (SELECT model, source, max(n) AS maxn FROM pp GROUP BY ALL)
      SELECT pp.model, pp.source, sum(n)::BIGINT, count(*)::BIGINT, min(n)::BIGINT, max(n)::BIGINT,
             count(*) FILTER (WHERE n < maxn OR span <> n)::BIGINT, sum(nulls)::BIGINT
      FROM pp JOIN mx USING (model, source) GROUP BY ALL ORDER BY ALL`);
    const reasons = await c.runAndReadAll('SELECT model, source, finish_reason, count(*)::BIGINT FROM samples GROUP BY ALL ORDER BY ALL');
    const reasonMap = new Map<string, Record<string, number>>();
    for (const [model, source, reason, n] of reasons.getRows()) {
      const key = `${String(model)}\u0000${String(source)}`;
      reasonMap.set(key, { ...(reasonMap.get(key) ?? {}), [String(reason)]: Number(n) });
    }
    const samples: PartitionStats[] = parts.getRows().map((r) => ({
      model: String(r[0]),
      source: String(r[1]),
      rows: Number(r[2]),
      prompts: Number(r[3]),
      minPerPrompt: Number(r[4]),
      maxPerPrompt: Number(r[5]),
      incompletePrompts: Number(r[6]),
      nullCompletions: Number(r[7]),
      finishReasons: reasonMap.get(`${String(r[0])}\u0000${String(r[1])}`) ?? {},
    }));
    const dups = await duplicateKeys(c, 'samples', 'samples');
    const lp = await c.runAndReadAll(`SELECT l.scorer_model, l.scorer_precision, count(*)::BIGINT,
        count(DISTINCT (l.model, l.source, l.prompt_id, l.sample_index)) FILTER (WHERE s.prompt_id IS NOT NULL)::BIGINT
      FROM logprobs l LEFT JOIN samples s USING (model, source, prompt_id, sample_index) GROUP BY ALL ORDER BY ALL`);
    const units = Number((await c.runAndReadAll('SELECT count(DISTINCT (model, source, unit_id)) FROM samples')).getRows()[0][0]);
    return {
      corpus,
      shards,
      rows,
      samples,
      duplicateKeys: dups.count,
      duplicateExamples: dups.examples,
      logprobs: lp.getRows().map((r) => ({ scorerModel: String(r[0]), scorerPrecision: String(r[1]), rows: Number(r[2]), samplesCovered: Number(r[3]) })),
      units,
    };
  });
}

async function duplicateKeys(c: DuckDBConnection, relation: string, kind: ShardKind): Promise<{ count: number; examples: string[] }> {
  const key = ROW_KEYS[kind].map(quotedIdentifier).join(', ');
  const r = await c.runAndReadAll(`SELECT ${key}, count(*) AS copies FROM ${relation} GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL`);
  const rows = r.getRows();
  return {
    count: rows.length,
    examples: rows.slice(0, 20).map((row) => `${ROW_KEYS[kind].map((k, i) => `${k}=${String(row[i])}`).join(' ')} (${String(row[row.length - 1])} copies)`),
  };
}

// ---------- verify ----------

export interface VerifyProblem {
  kind: ShardKind;
  problem: 'corrupt' | 'newer-schema' | 'misplaced' | 'duplicate-unit' | 'duplicate-keys';
  path?: string;
  message: string;
  /** Where a corrupt shard was moved (its unit must be redone, e.g. by met resume). */
  quarantinedTo?: string;
}

export interface VerifyReport {
  corpus: string;
  ok: boolean;
  shards: number;
  rows: number;
  problems: VerifyProblem[];
  /** Temporary files (writers in progress or crash leftovers); never read as data. */
  tempFiles: string[];
}

/**
 * Checks every shard of a corpus: readable, row count and content checksum equal to its footer,
 * in the folder its metadata names, no unit in two shards, no duplicate row keys. Corrupt shards
 * are quarantined (unless `quarantine: false`) so that resume redoes their units.
 */
export async function verifyCorpus(duck: DuckDBInstance, root: string, corpus: string, options: { quarantine?: boolean } = {}): Promise<VerifyReport> {
  if (!existsSync(corpusDir(root, corpus))) throw new MetError(ErrorTypes.NotFound, `no corpus '${corpus}' under ${join(root, 'corpus')}`);
  recoverCompactions(root, corpus);
  const report: VerifyReport = { corpus, ok: true, shards: 0, rows: 0, problems: [], tempFiles: [] };
  for (const kind of SHARD_KINDS) {
    const valid: string[] = [];
    const unitOwner = new Map<string, string>();
    for (const shard of listShards(root, corpus, kind)) {
      report.shards++;
      let status;
      try {
        status = await shardStatus(duck, shard.path, kind, true);
      } catch (err) {
        if (err instanceof SchemaVersionError) {
          report.problems.push({ kind, problem: 'newer-schema', path: shard.path, message: err.message });
          continue;
        }
        throw err;
      }
      if (status.state !== 'valid') {
        const reason = status.state === 'corrupt' ? status.reason : 'missing';
        const quarantinedTo = options.quarantine === false ? undefined : quarantine(root, corpus, shard.path);
        report.problems.push({ kind, problem: 'corrupt', path: shard.path, message: reason, quarantinedTo });
        continue;
      }
      const misplaced = placementProblem(corpus, shard, status.meta.corpus, status.meta.partition);
      if (misplaced) {
        report.problems.push({ kind, problem: 'misplaced', path: shard.path, message: misplaced });
        continue;
      }
      for (const unit of Object.keys(status.meta.units)) {
        const key = `${JSON.stringify(shard.partition)}\u0000${unit}`;
        const other = unitOwner.get(key);
        if (other) report.problems.push({ kind, problem: 'duplicate-unit', path: shard.path, message: `unit ${unit} is also in ${relative(root, other)}` });
        else unitOwner.set(key, shard.path);
      }
      report.rows += status.rows;
      valid.push(shard.path);
    }
    if (valid.length > 0) {
      await withConnection(duck, async (c) => {
        const hive = PARTITION_FIELDS[kind].length > 0 ? `hive_partitioning = true, hive_types = ${hiveTypesSql(kind)}` : 'hive_partitioning = false';
        const dups = await duplicateKeys(c, `read_parquet([${valid.map(quotedString).join(', ')}], ${hive}${unionByNameOption(kind)})`, kind);
        if (dups.count > 0) {
          report.problems.push({
            kind,
            problem: 'duplicate-keys',
            message: `${dups.count} ${kind} key(s) occur more than once, e.g. ${dups.examples.slice(0, 5).join('; ')}`,
          });
        }
      });
    }
    report.tempFiles.push(...listTempFiles(root, corpus, kind));
  }
  report.ok = report.problems.length === 0;
  return report;
}

function placementProblem(corpus: string, shard: ShardFile, metaCorpus: string, metaPartition: Partition): string | undefined {
  if (metaCorpus && metaCorpus !== corpus) return `belongs to corpus '${metaCorpus}' by its metadata, found in '${corpus}'`;
  for (const [field, value] of Object.entries(shard.partition)) {
    if (metaPartition[field] !== undefined && metaPartition[field] !== value)
      return `metadata says ${field}='${metaPartition[field]}' but it is in the folder for '${value}'`;
  }
  return undefined;
}

// ---------- compact ----------

interface CompactionJournal {
  merged: string;
  inputs: string[];
}

/**
 * Finishes or undoes compactions a crash interrupted. A journal `.compact-<id>.json` is written
 * before the merged shard is renamed into place: if the merged shard exists, its inputs are
 * removed; if not, the journal is dropped and the inputs stay.
 */
export function recoverCompactions(root: string, corpus: string): void {
  for (const kind of SHARD_KINDS) {
    for (const { dir } of listPartitionDirs(root, corpus, kind)) {
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        if (!name.startsWith('.compact-') || !name.endsWith('.json')) continue;
        const journalPath = join(dir, name);
        let journal: CompactionJournal | undefined;
        try {
          journal = JSON.parse(readFileSync(journalPath, 'utf8')) as CompactionJournal;
        } catch {
          journal = undefined;
        }
        if (journal && existsSync(join(dir, journal.merged))) {
          for (const input of journal.inputs) rmSync(join(dir, input), { force: true });
          fsyncPath(dir);
        }
        rmSync(journalPath, { force: true });
      }
    }
  }
}

export interface CompactReport {
  corpus: string;
  /** One entry per partition folder that was merged. */
  merged: { kind: ShardKind; partition: Partition; inputs: number; rows: number; path: string }[];
  skipped: { kind: ShardKind; partition: Partition; reason: string }[];
  quarantined: string[];
}

/**
 * Merges each partition folder's shards into one compacted shard, atomically and without losing
 * or duplicating rows: inputs are verified first (corrupt ones quarantined), a partition whose
 * inputs share a unit or a row key is skipped, the merged file must have exactly the inputs' row
 * count and summed checksum before it replaces them, and a journal makes the swap crash-safe.
 * The merged shard lists its units, so resume still finds those units done.
 */
export async function compactCorpus(
  duck: DuckDBInstance,
  root: string,
  corpus: string,
  options: { kinds?: ShardKind[]; minShards?: number } = {},
): Promise<CompactReport> {
  if (!existsSync(corpusDir(root, corpus))) throw new MetError(ErrorTypes.NotFound, `no corpus '${corpus}' under ${join(root, 'corpus')}`);
  recoverCompactions(root, corpus);
  const report: CompactReport = { corpus, merged: [], skipped: [], quarantined: [] };
  const minShards = options.minShards ?? 2;
  for (const kind of options.kinds ?? SHARD_KINDS) {
    for (const { dir, partition } of listPartitionDirs(root, corpus, kind)) {
      if (!existsSync(dir)) continue;
      const names = readdirSync(dir).filter(isShardFile).sort();
      if (names.length < minShards) continue;
      const inputs: { name: string; rows: number; checksum: string; units: Record<string, number> }[] = [];
      for (const name of names) {
        const path = join(dir, name);
        const status = await shardStatus(duck, path, kind, true);
        if (status.state === 'valid') inputs.push({ name, rows: status.rows, checksum: status.checksum, units: status.meta.units });
        else if (status.state === 'corrupt') report.quarantined.push(quarantine(root, corpus, path));
      }
      if (inputs.length < minShards) continue;
      const units: Record<string, number> = {};
      const shared = new Set<string>();
      for (const input of inputs) {
        for (const [unit, n] of Object.entries(input.units)) {
          if (unit in units) shared.add(unit);
          units[unit] = n;
        }
      }
      if (shared.size) {
        report.skipped.push({ kind, partition, reason: `units in more than one shard: ${[...shared].slice(0, 5).join(', ')} (run met corpus verify)` });
        continue;
      }
      const result = await withConnection(duck, async (c) => {
        const files = `[${inputs.map((i) => quotedString(join(dir, i.name))).join(', ')}]`;
        const source = `read_parquet(${files}, hive_partitioning = false${unionByNameOption(kind)})`;
        const keyColumns = ROW_KEYS[kind].filter((k) => !PARTITION_FIELDS[kind].some((f) => datasetColumns(kind).find((col) => col.field === f)?.name === k));
        const dupSql = `SELECT count(*) FROM (SELECT ${keyColumns.map(quotedIdentifier).join(', ')} FROM ${source} GROUP BY ALL HAVING count(*) > 1)`;
        const dups = Number((await c.runAndReadAll(dupSql)).getRows()[0][0]);
        if (dups > 0) return { skipped: `${dups} row key(s) occur more than once across its shards (run met corpus verify)` };
        const rows = inputs.reduce((a, i) => a + i.rows, 0);
        const checksum = addChecksums(inputs.map((i) => i.checksum));
        const bytes = Number(
          (await c.runAndReadAll(`SELECT coalesce(sum(total_uncompressed_size), 0)::BIGINT FROM parquet_metadata(${files})`)).getRows()[0][0],
        );
        const id = createHash('sha256')
          .update(inputs.map((i) => `${i.name}:${i.checksum}`).join('\n'))
          .digest('hex')
          .slice(0, 16);
        const mergedName = `part-compact-${id}.parquet`;
        const temp = tempPath(dir, `compact-${id}`);
        try {
          const order = keyColumns.map(quotedIdentifier).join(', ');
          await copyToParquet(
            c,
            `(SELECT * FROM ${source} ORDER BY ${order})`,
            temp,
            { kind, rows, checksum, corpus, partition, units },
            rowGroupRows(rows, bytes),
          );
          const check = await shardStatus(duck, temp, kind, true);
          if (check.state !== 'valid')
            throw new MetError(
              ErrorTypes.ShardCorrupt,
              `compacted shard did not verify (${check.state === 'corrupt' ? check.reason : check.state}); inputs left unchanged`,
            );
          const journal = join(dir, `.compact-${id}.json`);
          writeFileSync(journal, JSON.stringify({ merged: mergedName, inputs: inputs.map((i) => i.name) } satisfies CompactionJournal));
          fsyncPath(journal);
          commitFile(temp, join(dir, mergedName));
          for (const input of inputs) if (input.name !== mergedName) rmSync(join(dir, input.name), { force: true });
          fsyncPath(dir);
          rmSync(journal, { force: true });
          return { rows, path: join(dir, mergedName) };
        } finally {
          rmSync(temp, { force: true });
        }
      });
      if ('skipped' in result) report.skipped.push({ kind, partition, reason: result.skipped as string });
      else report.merged.push({ kind, partition, inputs: inputs.length, rows: result.rows, path: result.path });
    }
  }
  return report;
}

// ---------- export and query ----------

export type ExportFormat = 'parquet' | 'jsonl';

/** Writes one kind of a corpus (partition columns included) to one file, atomically. */
export async function exportCorpus(
  duck: DuckDBInstance,
  root: string,
  corpus: string,
  options: { kind?: ShardKind; format: ExportFormat; out: string },
): Promise<{ path: string; rows: number }> {
  const kind = options.kind ?? 'samples';
  recoverCompactions(root, corpus);
  mkdirSync(dirname(options.out), { recursive: true });
  const temp = `${options.out}.tmp-${process.pid}`;
  try {
    const rows = await withConnection(duck, async (c) => {
      await createCorpusViews(c, root, corpus, [kind]);
      const format = options.format === 'parquet' ? 'FORMAT parquet, COMPRESSION zstd' : 'FORMAT json';
      const cols = datasetColumns(kind)
        .map((col) => quotedIdentifier(col.name))
        .join(', ');
      const r = await c.runAndReadAll(`COPY (SELECT ${cols} FROM ${quotedIdentifier(kind)}) TO ${quotedString(temp)} (${format})`);
      return Number(r.getRows()[0][0]);
    });
    commitFile(temp, options.out);
    return { path: options.out, rows };
  } finally {
    rmSync(temp, { force: true });
  }
}

export interface QueryResult {
  columns: string[];
  rows: unknown[][];
}

/** Runs SQL against a corpus's views (samples, logprobs, prompts, tests, power). Values are JSON-safe. */
export async function queryCorpus(duck: DuckDBInstance, root: string, corpus: string, sql: string): Promise<QueryResult> {
  recoverCompactions(root, corpus);
  return withConnection(duck, async (c) => {
    await createCorpusViews(c, root, corpus);
    let reader;
    try {
      reader = await c.runAndReadAll(sql);
    } catch (err) {
      throw new MetError(ErrorTypes.BadInput, `query failed: ${firstLine(err)} (views: ${SHARD_KINDS.join(', ')})`);
    }
    return { columns: reader.deduplicatedColumnNames(), rows: reader.getRowsJson() };
  });
}
