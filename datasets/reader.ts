import { JSDuckDBValueConverter, LIST, listValue, VARCHAR, type DuckDBDataChunk, type DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import type { EncodedSample, Unit } from '../stats/types';
import { chunkVector, decodeCodePoints, readFloat64, readInt32, readInt32Lists, readNulls, readStringBytes } from './chunks';
import { quotedIdentifier, withConnection } from './duck';
import { checkVersions, partitionGlobs, readParquetSql } from './views';
import { datasetColumns, type Column, type ShardKind } from './tables';

/**
 * Reading corpora for the statistics engine: a slice (models, sources, prompts, samples per prompt)
 * becomes an EncodedSample (prompt indices + padded n x L code-point or token-id matrix) straight
 * from DuckDB's column vectors, with no JS object, string or array per row. Large slices can be
 * streamed as row batches instead.
 */
export interface SliceSpec {
  corpus: string;
  /** Models to include (default: all). */
  models?: string[];
  /** Sources to include (default: all). */
  sources?: string[];
  /**
   * Prompt ids, in the order that defines prompt indices 0..m-1. Pass the same list for the X and
   * Y samples of a test. Default: the distinct prompt ids of the slice, sorted.
   */
  promptIds?: string[];
  /** Samples per prompt to keep (a seeded random subset); default all. */
  samplesPerPrompt?: number;
  /** Seed of the subset choice (default 0). The same seed picks the same samples on any machine. */
  seed?: number;
  /** 'char' (default): Unicode code points of the completion; 'token': its token ids. */
  unit?: Unit;
  /** Completion length rows are truncated/padded to (default 1000). */
  L?: number;
  /** Token unit: pad id (default -1; char unit always pads with -1). */
  padId?: number;
  /** Token unit: everything after the first EOS becomes the pad id. */
  eosId?: number;
  /** Accept prompts with fewer than samplesPerPrompt samples (default: MetError TooFewSamples). */
  allowFewer?: boolean;
  /** Also return each row's summed logprob under this scorer (for one-sample tests). */
  logprobsUnder?: { scorerModel: string; scorerPrecision?: string };
}

export interface Slice {
  sample: EncodedSample;
  promptIds: string[];
  /** Rows per prompt index. */
  rowsPerPrompt: Int32Array;
  /** Sample index of each row (with the prompt index, its key within one model/source). */
  sampleIndex: Int32Array;
  /** Rows left out because their completion (or token ids) is null, e.g. failed requests. */
  skippedNull: number;
  /** Present with `logprobsUnder`: summed logprob (natural log) and token count of each row. */
  logprobSum?: Float64Array;
  logprobCount?: Int32Array;
  /** Present with `logprobsUnder`: mean ln(rank) of each row's tokens (NaN where ranks were not stored). */
  logRankMean?: Float64Array;
  /**
   * Present with `logprobsUnder`: the decode routes (logprob rows' scorer_backend; '' where a row
   * does not record one) of the scored rows on the slice's prompts, with their row counts.
   */
  scorerRoutes?: Record<string, number>;
}

/**
 * Refuses logprobs of one scorer computed by more than one decode route: the same tokens scored two
 * ways differ by up to nats (docs/decoding.md), so a test comparing them would measure met, not the
 * endpoints. `slices` are the sides of one test (each named), read with `logprobsUnder`.
 */
export function assertOneScorerRoute(scorer: string, slices: { name: string; routes?: Record<string, number> }[]): void {
  const seen = new Map<string, string[]>();
  for (const s of slices) {
    for (const [route, rows] of Object.entries(s.routes ?? {})) {
      const list = seen.get(route) ?? [];
      list.push(`${s.name} (${rows} row${rows === 1 ? '' : 's'})`);
      seen.set(route, list);
    }
  }
  if (seen.size <= 1) return;
  const named = [...seen.entries()]
    .map(
      ([route, where]) =>
        `${route ? `'${route}'` : 'a route the rows do not record (scored before met recorded it; its flash attention was then auto)'}: ${where.join(', ')}`,
    )
    .join('; ');
  throw new MetError(
    ErrorTypes.BadInput,
    `logprobs under ${scorer} were computed by more than one decode route, and the same tokens scored two ways differ, so this test would compare met's routes, not the endpoints. ${named}. Score every side with one route: delete the logprob shards of the other route (met corpus query shows scorer_backend per row; they sit under logprobs/scorer_model=...) and run met score again with one worker configuration (docs/decoding.md)`,
  );
}

/** RUT's completion scores of a slice read with `logprobsUnder` (stats/rut.ts): summed or mean logprob, or mean ln(rank). */
export type CompletionScore = 'sum_logprob' | 'mean_logprob' | 'log_rank';

/** Each row's score; `what` names the slice in the error when log_rank meets rows scored before met stored ranks. */
export function completionScores(slice: Slice, score: CompletionScore, what: string): Float64Array {
  const { logprobSum: sums, logprobCount: counts, logRankMean: logRanks } = slice;
  if (!sums || !counts || !logRanks) throw new Error('completionScores needs a slice read with logprobsUnder');
  if (score === 'log_rank') {
    if (logRanks.some((v) => Number.isNaN(v))) {
      throw new MetError(
        ErrorTypes.BadInput,
        `the log_rank score needs per-token ranks, and some of ${what}'s logprob rows were scored before met stored ranks: rescore them (delete their logprob shards, run met score again) or use sum_logprob`,
      );
    }
    return Float64Array.from(logRanks);
  }
  if (score === 'mean_logprob') return Float64Array.from(sums, (sum, i) => (counts[i] > 0 ? sum / counts[i] : 0));
  return Float64Array.from(sums);
}

/** The parameters a statement uses (DuckDB refuses to bind names the SQL does not mention). */
function used(sql: string, params: Record<string, unknown>, types: Record<string, unknown>): [never, never] {
  const pick = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => new RegExp(`\\$${k}\\b`).test(sql)));
  return [pick(params) as never, pick(types) as never];
}

/** The error for slices that hold a key twice, naming them and the fix. */
export function duplicatesError(corpus: string, slices: { model: string; source: string; duplicates: number }[]): MetError {
  const named = slices.map((s) => `${corpus}:${s.model}/${s.source} (${s.duplicates} duplicate key${s.duplicates === 1 ? '' : 's'})`).join(', ');
  return new MetError(
    ErrorTypes.DuplicateSamples,
    `${named}: a slice must hold each (prompt_id, sample_index) once, and a test on duplicates could call an honest endpoint different. Run 'met corpus verify ${corpus}' to list them, then move the shards of the run that added them out of the slice (met corpus query shows each key's run_id and unit_id), or collect under a new source label`,
  );
}

function tooFew(message: string): MetError {
  return new MetError(ErrorTypes.TooFewSamples, message);
}

/** Reads a slice of a corpus's samples into the statistics engine's arrays. */
export async function readSlice(duck: DuckDBInstance, root: string, spec: SliceSpec): Promise<Slice> {
  const unit = spec.unit ?? 'char';
  const L = spec.L ?? 1000;
  if (!Number.isInteger(L) || L <= 0) throw new MetError(ErrorTypes.BadInput, `L must be a positive integer, got ${L}`);
  const pad = unit === 'char' ? -1 : (spec.padId ?? -1);
  const files = partitionGlobs(root, spec.corpus, 'samples', { model: spec.models, source: spec.sources });
  const where = `${unit === 'char' ? 'completion' : 'token_ids'} IS NOT NULL`;
  const filters: string[] = [];
  const params: Record<string, unknown> = {};
  const types: Record<string, unknown> = {};
  const bindList = (name: string, values: string[]) => {
    params[name] = listValue(values);
    types[name] = LIST(VARCHAR);
  };
  bindList('files', files);
  if (spec.models) {
    filters.push('list_contains($models, model)');
    bindList('models', spec.models);
  }
  if (spec.sources) {
    filters.push('list_contains($sources, source)');
    bindList('sources', spec.sources);
  }

  return withConnection(duck, async (c) => {
    if (files.length === 0)
      throw tooFew(
        `corpus '${spec.corpus}' has no samples for models ${spec.models?.join(', ') ?? '(any)'} and sources ${spec.sources?.join(', ') ?? '(any)'}`,
      );
    await checkVersions(c, files);
    const base = `SELECT * FROM ${readParquetSql('samples')}${filters.length ? ` WHERE ${filters.join(' AND ')}` : ''}`;

    // A slice is a set of sample keys (docs/slices.md): duplicates would make it look more self-similar than it is.
    const dupSql = `SELECT model, source, (count(*) - count(DISTINCT (prompt_id, sample_index)))::BIGINT AS d FROM (${base}) GROUP BY model, source HAVING d > 0 ORDER BY model, source`;
    const dups = (await c.runAndReadAll(dupSql, ...used(dupSql, params, types))).getRows();
    if (dups.length)
      throw duplicatesError(
        spec.corpus,
        dups.map(([model, source, d]) => ({ model: String(model), source: String(source), duplicates: Number(d) })),
      );

    let promptIds = spec.promptIds;
    if (!promptIds) {
      const sql = `SELECT DISTINCT prompt_id FROM (${base}) ORDER BY prompt_id`;
      const r = await c.runAndReadAll(sql, ...used(sql, params, types));
      promptIds = r.getRows().map((row) => String(row[0]));
    }
    if (new Set(promptIds).size !== promptIds.length) throw new MetError(ErrorTypes.BadInput, 'promptIds has duplicates');
    bindList('ids', promptIds);

    const nullSql = `SELECT count(*) FROM (${base}) WHERE NOT (${where}) AND list_contains($ids, prompt_id)`;
    const nullCount = await c.runAndReadAll(nullSql, ...used(nullSql, params, types));
    const skippedNull = Number(nullCount.getRows()[0][0]);

    const payload = unit === 'char' ? `substr(s.completion, 1, ${L})` : `s.token_ids[1:${L}]`;
    const k = spec.samplesPerPrompt;
    const order = `md5(concat_ws(chr(0), $seed::VARCHAR, s.model, s.source, s.prompt_id, s.sample_index::VARCHAR))`;
    params.seed = String(spec.seed ?? 0);
    types.seed = VARCHAR;
    let logprobJoin = '';
    let logprobCols = '';
    let routeRows: unknown[][] | undefined;
    if (spec.logprobsUnder) {
      const lpFiles = partitionGlobs(root, spec.corpus, 'logprobs', {
        scorerModel: [spec.logprobsUnder.scorerModel],
        model: spec.models,
        source: spec.sources,
      });
      if (lpFiles.length === 0)
        throw new MetError(ErrorTypes.NotFound, `corpus '${spec.corpus}' has no logprobs under scorer ${spec.logprobsUnder.scorerModel}: score it first`);
      await checkVersions(c, lpFiles);
      bindList('lpfiles', lpFiles);
      const precision = spec.logprobsUnder.scorerPrecision;
      if (precision !== undefined) {
        params.precision = precision;
        types.precision = VARCHAR;
      }
      // The routes of the scored rows on these prompts: a test refuses to mix two (assertOneScorerRoute).
      const routeSql = `SELECT coalesce(scorer_backend, '') AS route, count(*)::BIGINT FROM ${readParquetSql('logprobs', 'lpfiles')}
        WHERE list_contains($ids, prompt_id)${precision !== undefined ? ' AND scorer_precision = $precision' : ''}${spec.models ? ' AND list_contains($models, model)' : ''}${spec.sources ? ' AND list_contains($sources, source)' : ''} GROUP BY route ORDER BY route`;
      routeRows = (await c.runAndReadAll(routeSql, ...used(routeSql, params, types))).getRows();
      logprobJoin = ` LEFT JOIN (SELECT * FROM ${readParquetSql('logprobs', 'lpfiles')}${precision !== undefined ? ' WHERE scorer_precision = $precision' : ''}) l
        USING (model, source, prompt_id, sample_index)`;
      // Mean ln(rank) over tokens; NULL where the scorer stored no ranks (and 0 for an empty completion).
      logprobCols = `, l.sum AS lp_sum, l.count AS lp_count,
        CASE WHEN l.token_ranks IS NULL THEN NULL WHEN len(l.token_ranks) = 0 THEN 0::DOUBLE
             ELSE list_sum(list_transform(l.token_ranks, x -> ln(x::DOUBLE))) / len(l.token_ranks) END AS lp_logrank`;
    }
    const sql = `
      WITH ids AS (SELECT unnest($ids) AS prompt_id, generate_subscripts($ids, 1)::INTEGER - 1 AS p),
      s AS (SELECT ids.p, s.*, row_number() OVER (PARTITION BY ids.p ORDER BY ${k === undefined ? 's.model, s.source, s.sample_index' : order}) AS r
            FROM (${base}) s JOIN ids USING (prompt_id) WHERE ${where})
      SELECT s.p, s.sample_index, ${payload} AS payload${logprobCols}
      FROM s${logprobJoin}
      ${k === undefined ? '' : `WHERE s.r <= ${Math.floor(k)}`}
      ORDER BY s.p, s.r`;
    if (k !== undefined && !(Number.isInteger(k) && k > 0)) throw new MetError(ErrorTypes.BadInput, `samplesPerPrompt must be a positive integer, got ${k}`);
    const result = await c.run(sql, ...used(sql, params, types));
    const n = result.rowCount;
    const m = promptIds.length;
    const prompts = new Int32Array(n);
    const sampleIndex = new Int32Array(n);
    const tokens = new Int32Array(n * L).fill(pad);
    const rowsPerPrompt = new Int32Array(m);
    const logprobSum = spec.logprobsUnder ? new Float64Array(n) : undefined;
    const logprobCount = spec.logprobsUnder ? new Int32Array(n) : undefined;
    const logRankMean = spec.logprobsUnder ? new Float64Array(n) : undefined;
    let unscored = 0;
    let row = 0;
    for (let ci = 0; ci < result.chunkCount; ci++) {
      const chunk: DuckDBDataChunk = result.getChunk(ci);
      const size = chunk.rowCount;
      const p = readInt32(chunkVector(chunk, 0), size);
      prompts.set(p, row);
      sampleIndex.set(readInt32(chunkVector(chunk, 1), size), row);
      for (let i = 0; i < size; i++) rowsPerPrompt[p[i]]++;
      if (unit === 'char') {
        const bytes = readStringBytes(chunkVector(chunk, 2), size);
        for (let i = 0; i < size; i++) decodeCodePoints(bytes(i), tokens, (row + i) * L, L);
      } else {
        const lists = readInt32Lists(chunkVector(chunk, 2), size);
        for (let i = 0; i < size; i++) {
          const at = (row + i) * L;
          const len = Math.min(L, lists.length(i));
          tokens.set(lists.values.subarray(lists.offset(i), lists.offset(i) + len), at);
          if (spec.eosId !== undefined) {
            const eos = tokens.subarray(at, at + len).indexOf(spec.eosId);
            if (eos >= 0) tokens.fill(pad, at + eos + 1, at + L);
          }
        }
      }
      if (logprobSum && logprobCount) {
        const sums = readFloat64(chunkVector(chunk, 3), size);
        const counts = readInt32(chunkVector(chunk, 4), size);
        const isNull = readNulls(chunkVector(chunk, 3), size);
        if (isNull) for (let i = 0; i < size; i++) if (isNull(i)) unscored++;
        logprobSum.set(sums, row);
        logprobCount.set(counts, row);
        const logRanks = readFloat64(chunkVector(chunk, 5), size);
        const noRanks = readNulls(chunkVector(chunk, 5), size);
        for (let i = 0; i < size; i++) logRankMean![row + i] = noRanks && noRanks(i) ? Number.NaN : logRanks[i];
      }
      row += size;
    }
    if (unscored > 0) {
      throw new MetError(
        ErrorTypes.NotFound,
        `${unscored} of ${n} samples have no logprobs under scorer ${spec.logprobsUnder!.scorerModel}: score them first (met score)`,
      );
    }
    if (!spec.allowFewer) {
      const short: string[] = [];
      rowsPerPrompt.forEach((count, i) => {
        if (count === 0 || (k !== undefined && count < k)) short.push(`${promptIds[i]} (${count})`);
      });
      if (short.length) {
        throw tooFew(
          `${short.length} prompt(s) have fewer than ${k ?? 1} sample(s) in this slice: ${short.slice(0, 10).join(', ')}${short.length > 10 ? ', ...' : ''}. Collect more (met resume), choose other prompts, or pass allowFewer`,
        );
      }
    }
    const scorerRoutes = routeRows && Object.fromEntries(routeRows.map(([route, rows]) => [String(route), Number(rows)]));
    return { sample: { L, m, prompts, tokens }, promptIds, rowsPerPrompt, sampleIndex, skippedNull, logprobSum, logprobCount, logRankMean, scorerRoutes };
  });
}

/**
 * The distinct `sampler` records (JSON, config/sampler.ts) of a slice's samples, with their row
 * counts; null stands for rows written before the column existed.
 */
export async function readSamplers(
  duck: DuckDBInstance,
  root: string,
  spec: { corpus: string; model: string; source: string },
): Promise<{ sampler: string | null; rows: number }[]> {
  const files = partitionGlobs(root, spec.corpus, 'samples', { model: [spec.model], source: [spec.source] });
  if (files.length === 0) return [];
  return withConnection(duck, async (c) => {
    await checkVersions(c, files);
    const result = await c.runAndReadAll(
      `SELECT sampler, count(*)::INTEGER AS n FROM ${readParquetSql('samples')} GROUP BY sampler ORDER BY n DESC`,
      { files: listValue(files) },
      { files: LIST(VARCHAR) },
    );
    return result.getRows().map((r) => ({ sampler: r[0] === null ? null : String(r[0]), rows: Number(r[1]) }));
  });
}

/** Token usage a slice's samples recorded (provider-reported): sums, and how many rows reported any. */
export async function readUsage(
  duck: DuckDBInstance,
  root: string,
  spec: { corpus: string; model: string; source: string },
): Promise<{ rows: number; reported: number; promptTokens: number; completionTokens: number; requests: number }> {
  const files = partitionGlobs(root, spec.corpus, 'samples', { model: [spec.model], source: [spec.source] });
  if (files.length === 0) return { rows: 0, reported: 0, promptTokens: 0, completionTokens: 0, requests: 0 };
  return withConnection(duck, async (c) => {
    await checkVersions(c, files);
    const result = await c.runAndReadAll(
      // Requests: one per request id (n > 1 puts several samples in one), one per sample without an id.
      `SELECT count(*)::BIGINT, count(prompt_tokens)::BIGINT, coalesce(sum(prompt_tokens), 0)::BIGINT, coalesce(sum(completion_tokens), 0)::BIGINT, (count(DISTINCT request_id) + count(*) FILTER (WHERE request_id IS NULL))::BIGINT FROM ${readParquetSql('samples')}`,
      { files: listValue(files) },
      { files: LIST(VARCHAR) },
    );
    const [rows, reported, promptTokens, completionTokens, requests] = result.getRows()[0].map(Number);
    return { rows, reported, promptTokens, completionTokens, requests };
  });
}

/** A slice's completions with the completion tokens the provider billed for each (null where it reported none): the billing audit's input. */
export async function readBilledCompletions(
  duck: DuckDBInstance,
  root: string,
  spec: { corpus: string; model: string; source: string },
): Promise<{ completion: string; completionTokens: number | null }[]> {
  const files = partitionGlobs(root, spec.corpus, 'samples', { model: [spec.model], source: [spec.source] });
  if (files.length === 0) return [];
  return withConnection(duck, async (c) => {
    await checkVersions(c, files);
    const result = await c.runAndReadAll(
      `SELECT coalesce(completion, ''), completion_tokens FROM ${readParquetSql('samples')} ORDER BY prompt_id, sample_index`,
      { files: listValue(files) },
      { files: LIST(VARCHAR) },
    );
    return result.getRows().map((r) => ({ completion: String(r[0]), completionTokens: r[1] === null ? null : Number(r[1]) }));
  });
}

export interface LogprobSums {
  promptIds: string[];
  model: string[];
  source: string[];
  promptIndex: Int32Array;
  sampleIndex: Int32Array;
  /** Summed logprob (natural log) of each scored completion. */
  sum: Float64Array;
  count: Int32Array;
}

/** Summed logprobs of every scored sample under a scorer, keyed by (model, source, prompt, sample index). */
export async function readLogprobSums(
  duck: DuckDBInstance,
  root: string,
  spec: { corpus: string; scorerModel: string; scorerPrecision?: string; models?: string[]; sources?: string[] },
): Promise<LogprobSums> {
  const files = partitionGlobs(root, spec.corpus, 'logprobs', { scorerModel: [spec.scorerModel], model: spec.models, source: spec.sources });
  const empty: LogprobSums = {
    promptIds: [],
    model: [],
    source: [],
    promptIndex: new Int32Array(0),
    sampleIndex: new Int32Array(0),
    sum: new Float64Array(0),
    count: new Int32Array(0),
  };
  if (files.length === 0) return empty;
  return withConnection(duck, async (c) => {
    await checkVersions(c, files);
    const params: Record<string, unknown> = { files: listValue(files) };
    const types: Record<string, unknown> = { files: LIST(VARCHAR) };
    if (spec.scorerPrecision !== undefined) params.precision = spec.scorerPrecision;
    const sql = `WITH l AS (SELECT * FROM ${readParquetSql('logprobs')}${spec.scorerPrecision !== undefined ? ' WHERE scorer_precision = $precision' : ''}),
      ids AS (SELECT prompt_id, (row_number() OVER (ORDER BY prompt_id) - 1)::INTEGER AS p FROM (SELECT DISTINCT prompt_id FROM l))
      SELECT ids.p, l.sample_index, l.sum, l.count, l.model, l.source, ids.prompt_id FROM l JOIN ids USING (prompt_id)
      ORDER BY l.model, l.source, ids.p, l.sample_index`;
    const result = await c.run(sql, params as never, types as never);
    const n = result.rowCount;
    const out: LogprobSums = {
      promptIds: [],
      model: [],
      source: [],
      promptIndex: new Int32Array(n),
      sampleIndex: new Int32Array(n),
      sum: new Float64Array(n),
      count: new Int32Array(n),
    };
    const promptIds = new Map<number, string>();
    let row = 0;
    for (let ci = 0; ci < result.chunkCount; ci++) {
      const chunk = result.getChunk(ci);
      const size = chunk.rowCount;
      const p = readInt32(chunkVector(chunk, 0), size);
      out.promptIndex.set(p, row);
      out.sampleIndex.set(readInt32(chunkVector(chunk, 1), size), row);
      out.sum.set(readFloat64(chunkVector(chunk, 2), size), row);
      out.count.set(readInt32(chunkVector(chunk, 3), size), row);
      const cols = chunk.getColumns();
      for (let i = 0; i < size; i++) {
        out.model.push(String(cols[4][i]));
        out.source.push(String(cols[5][i]));
        promptIds.set(p[i], String(cols[6][i]));
      }
      row += size;
    }
    out.promptIds = [...promptIds.entries()].sort((a, b) => a[0] - b[0]).map(([, id]) => id);
    return out;
  });
}

/** A row of a kind as the schemas type it (camelCase fields, Dates, numbers). */
function toRow(columns: Column[], values: unknown[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  columns.forEach((col, i) => {
    row[col.field] = fromDuck(col, values[i]);
  });
  return row;
}

function fromDuck(col: Column, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  const t = col.type;
  if (t === 'int64') return Number(v);
  if (typeof t === 'object' && 'struct' in t) {
    const obj = v as Record<string, unknown>;
    return Object.fromEntries(t.struct.map((f) => [f.field, fromDuck(f, obj[f.name])]));
  }
  return v;
}

export interface StreamSpec {
  corpus: string;
  kind?: ShardKind;
  models?: string[];
  sources?: string[];
  /** Rows per batch (default 2048, DuckDB's chunk size). */
  batchSize?: number;
}

/**
 * Streams a kind's rows in batches without holding the whole slice in memory (DuckDB streams the
 * scan). Rows are typed as the kind's schema. Breaking out of the loop closes the connection.
 */
export async function* streamRows(duck: DuckDBInstance, root: string, spec: StreamSpec): AsyncGenerator<Record<string, unknown>[]> {
  const kind = spec.kind ?? 'samples';
  const filter: Record<string, string[] | undefined> = { model: spec.models, source: spec.sources };
  const files = partitionGlobs(root, spec.corpus, kind, kind === 'samples' || kind === 'logprobs' ? filter : {});
  if (files.length === 0) return;
  const columns = datasetColumns(kind);
  const c = await duck.connect();
  try {
    await checkVersions(c, files);
    const select = columns.map((col) => quotedIdentifier(col.name)).join(', ');
    const result = await c.stream(`SELECT ${select} FROM ${readParquetSql(kind)}`, { files: listValue(files) }, { files: LIST(VARCHAR) });
    const batchSize = spec.batchSize ?? 2048;
    let batch: Record<string, unknown>[] = [];
    for (;;) {
      const chunk = await result.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      for (const values of chunk.convertRows(JSDuckDBValueConverter)) {
        batch.push(toRow(columns, values));
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
    }
    if (batch.length) yield batch;
  } finally {
    c.closeSync();
  }
}

/** How far an endpoint's own logprobs are from a scorer's on the same tokens (one-sample tests). */
export interface OwnLogprobGap {
  /** Completions with both lists, of equal length. */
  completions: number;
  tokens: number;
  /** Mean and largest |own - scorer's| per token, nats. */
  meanAbs: number;
  maxAbs: number;
  /** Completions whose two lists differ in length (other tokens: not compared). */
  lengthMismatches: number;
}

/**
 * The endpoint's reported token logprobs (samples.token_logprobs, stored where the provider returned
 * them) against the scorer's for the same sample keys on the given prompts; undefined when the slice
 * holds none. Both lists are per completion token, so they are compared position by position.
 */
export async function ownLogprobGap(
  duck: DuckDBInstance,
  root: string,
  spec: { corpus: string; model: string; source: string; promptIds: string[]; scorerModel: string; scorerPrecision: string },
): Promise<OwnLogprobGap | undefined> {
  const files = partitionGlobs(root, spec.corpus, 'samples', { model: [spec.model], source: [spec.source] });
  const lpFiles = partitionGlobs(root, spec.corpus, 'logprobs', { scorerModel: [spec.scorerModel], model: [spec.model], source: [spec.source] });
  if (files.length === 0 || lpFiles.length === 0) return undefined;
  return withConnection(duck, async (c) => {
    await checkVersions(c, [...files, ...lpFiles]);
    const r = await c.runAndReadAll(
      `SELECT s.token_logprobs::DOUBLE[] AS own, l.token_logprobs AS ref
       FROM (SELECT * FROM ${readParquetSql('samples')} WHERE model = $model AND source = $source AND token_logprobs IS NOT NULL AND list_contains($ids, prompt_id)) s
       JOIN (SELECT * FROM ${readParquetSql('logprobs', 'lpfiles')} WHERE scorer_precision = $precision) l USING (model, source, prompt_id, sample_index)`,
      {
        files: listValue(files),
        lpfiles: listValue(lpFiles),
        ids: listValue(spec.promptIds),
        model: spec.model,
        source: spec.source,
        precision: spec.scorerPrecision,
      },
      { files: LIST(VARCHAR), lpfiles: LIST(VARCHAR), ids: LIST(VARCHAR), model: VARCHAR, source: VARCHAR, precision: VARCHAR },
    );
    let completions = 0;
    let tokens = 0;
    let sum = 0;
    let maxAbs = 0;
    let lengthMismatches = 0;
    for (const [own, ref] of r.getRowsJS() as [number[] | null, number[] | null][]) {
      if (!own || !ref) continue;
      if (own.length !== ref.length) {
        lengthMismatches++;
        continue;
      }
      completions++;
      for (let i = 0; i < own.length; i++) {
        const d = Math.abs(Number(own[i]) - Number(ref[i]));
        tokens++;
        sum += d;
        if (d > maxAbs) maxAbs = d;
      }
    }
    if (completions === 0 && lengthMismatches === 0) return undefined;
    return { completions, tokens, meanAbs: tokens ? sum / tokens : 0, maxAbs, lengthMismatches };
  });
}
