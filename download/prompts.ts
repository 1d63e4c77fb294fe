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
 * Column options take nested fields with dots (oasst1 trees: `prompt.text`, `prompt.lang`).
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
    /** A list of {role, content} (UltraChat's "messages"); default: one user turn holding the text. */
    messagesColumn: z.string().optional(),
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

/** `prompt.text` -> "prompt"."text": a column or a field of a struct column. */
const field = (path: string) => path.split('.').map(quotedIdentifier).join('.');

export async function buildPromptSet(duck: DuckDBInstance, spec: PromptBuildSpec): Promise<{ rows: number; considered: number }> {
  const text = `${field(spec.textColumn)}::VARCHAR`;
  const words = `len(regexp_split_to_array(trim(${text}), '\\s+'))`;
  const filters = [`${text} IS NOT NULL`, `trim(${text}) <> ''`];
  if (spec.minWords !== undefined) filters.push(`${words} >= ${spec.minWords}`);
  if (spec.maxWords !== undefined) filters.push(`${words} <= ${spec.maxWords}`);
  if (spec.language && spec.langColumn) filters.push(`${field(spec.langColumn)}::VARCHAR = ${quotedString(spec.language)}`);
  const id = spec.idColumn ? `CAST(${field(spec.idColumn)} AS VARCHAR)` : `CAST(row_number() OVER () - 1 AS VARCHAR)`;
  return withConnection(duck, async (c) => {
    const source = `(SELECT *, ${id} AS __id FROM ${reader(spec.inputs)})`;
    const columns = (await c.runAndReadAll(`DESCRIBE SELECT * FROM ${reader(spec.inputs)}`)).getRows().map((r) => String(r[0]));
    for (const [option, path] of [
      ['--text-column', spec.textColumn],
      ['--id-column', spec.idColumn],
      ['--lang-column', spec.langColumn],
      ['--messages-column', spec.messagesColumn],
    ] as const) {
      const top = path?.split('.')[0];
      if (top !== undefined && !columns.includes(top))
        throw new MetError(ErrorTypes.BadInput, `no column '${top}' in ${spec.inputs[0]} (columns: ${columns.join(', ')}): pass ${option}`);
    }
    const considered = Number((await c.runAndReadAll(`SELECT count(*) FROM ${source}`)).getRows()[0][0]);
    const messages = spec.messagesColumn ? `to_json(${field(spec.messagesColumn)})::VARCHAR` : `to_json([{'role': 'user', 'content': ${text}}])::VARCHAR`;
    mkdirSync(dirname(spec.out), { recursive: true });
    // A seeded order (hash of id and seed) then the first `count`: the same seed gives the same set.
    const select = `SELECT ${quotedString(spec.set)} AS prompt_set, __id AS prompt_id, ${quotedString(spec.sourceDataset ?? spec.set)} AS source_dataset,
        ${spec.language ? quotedString(spec.language) : 'NULL::VARCHAR'} AS language, ${text} AS text, ${messages} AS messages
      FROM ${source} WHERE ${filters.join(' AND ')} ORDER BY hash(__id || ${quotedString(String(spec.seed))}) ${spec.count ? `LIMIT ${spec.count}` : ''}`;
    await c.run(`COPY (${select}) TO ${quotedString(spec.out)} (FORMAT parquet, COMPRESSION zstd)`);
    const rows = Number((await c.runAndReadAll(`SELECT count(*) FROM read_parquet(${quotedString(spec.out)})`)).getRows()[0][0]);
    return { rows, considered };
  });
}
