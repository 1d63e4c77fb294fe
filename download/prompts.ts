import { mkdirSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { quotedIdentifier, quotedString, withConnection } from '../datasets/duck';

/**
 * `met prompts build`: a prompt-set Parquet file (prompt_set, prompt_id, source_dataset, language,
 * text, messages) from downloaded sources (Parquet, JSONL, JSONL.gz), filtered by words and
 * language, then a seeded sample of `count`. Collection runs read it as `prompts: { file: ... }`.
 */
export const PromptBuildSpec = z
  .object({
    inputs: z.array(z.string().min(1)).min(1),
    set: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
    out: z.string().regex(/\.parquet$/, 'the output is a .parquet file'),
    textColumn: z.string().default('text'),
    idColumn: z.string().optional(),
    sourceDataset: z.string().optional(),
    language: z.string().optional(),
    /** Keep rows whose `langColumn` equals `language` (e.g. oasst1's "lang"). */
    langColumn: z.string().optional(),
    minWords: z.number().int().nonnegative().optional(),
    maxWords: z.number().int().positive().optional(),
    count: z.number().int().positive().optional(),
    seed: z.number().int().nonnegative().default(0),
  })
  .strict();
export type PromptBuildSpec = z.infer<typeof PromptBuildSpec>;

const reader = (files: string[]) => {
  const list = `[${files.map(quotedString).join(', ')}]`;
  const ext = extname(files[0].replace(/\.gz$/, ''));
  if (ext === '.parquet') return `read_parquet(${list}, union_by_name = true)`;
  if (ext === '.jsonl' || ext === '.json') return `read_json_auto(${list}, format = 'newline_delimited', union_by_name = true)`;
  throw new MetError(ErrorTypes.BadInput, `${files[0]}: prompt sources are .parquet, .jsonl or .jsonl.gz files`);
};

export async function buildPromptSet(duck: DuckDBInstance, spec: PromptBuildSpec): Promise<{ rows: number; considered: number }> {
  const words = `len(regexp_split_to_array(trim(${quotedIdentifier(spec.textColumn)}), '\\s+'))`;
  const filters = [`${quotedIdentifier(spec.textColumn)} IS NOT NULL`, `trim(${quotedIdentifier(spec.textColumn)}) <> ''`];
  if (spec.minWords !== undefined) filters.push(`${words} >= ${spec.minWords}`);
  if (spec.maxWords !== undefined) filters.push(`${words} <= ${spec.maxWords}`);
  if (spec.language && spec.langColumn) filters.push(`${quotedIdentifier(spec.langColumn)} = ${quotedString(spec.language)}`);
  const id = spec.idColumn ? `CAST(${quotedIdentifier(spec.idColumn)} AS VARCHAR)` : `CAST(row_number() OVER () - 1 AS VARCHAR)`;
  return withConnection(duck, async (c) => {
    const source = `(SELECT *, ${id} AS __id FROM ${reader(spec.inputs)})`;
    const considered = Number((await c.runAndReadAll(`SELECT count(*) FROM ${source}`)).getRows()[0][0]);
    const columns = (await c.runAndReadAll(`DESCRIBE SELECT * FROM ${reader(spec.inputs)}`)).getRows().map((r) => String(r[0]));
    if (!columns.includes(spec.textColumn)) throw new MetError(ErrorTypes.BadInput, `no column '${spec.textColumn}' in ${spec.inputs[0]} (columns: ${columns.join(', ')}): pass --text-column`);
    mkdirSync(dirname(spec.out), { recursive: true });
    // A seeded order (hash of id and seed) then the first `count`: the same seed gives the same set.
    const select = `SELECT ${quotedString(spec.set)} AS prompt_set, __id AS prompt_id, ${quotedString(spec.sourceDataset ?? spec.set)} AS source_dataset,
        ${spec.language ? quotedString(spec.language) : 'NULL::VARCHAR'} AS language, ${quotedIdentifier(spec.textColumn)}::VARCHAR AS text, NULL::VARCHAR AS messages
      FROM ${source} WHERE ${filters.join(' AND ')} ORDER BY hash(__id || ${quotedString(String(spec.seed))}) ${spec.count ? `LIMIT ${spec.count}` : ''}`;
    await c.run(`COPY (${select}) TO ${quotedString(spec.out)} (FORMAT parquet, COMPRESSION zstd)`);
    const rows = Number((await c.runAndReadAll(`SELECT count(*) FROM read_parquet(${quotedString(spec.out)})`)).getRows()[0][0]);
    return { rows, considered };
  });
}
