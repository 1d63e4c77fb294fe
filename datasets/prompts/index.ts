import { existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { z } from 'zod';
import { ErrorTypes, MetError } from '../../common/errors';
import type { PromptRow } from '../schemas';

/**
 * Prompt sets: the small sets shipped in this folder (by name, e.g. 'demo') and user files
 * (JSONL with {id, text, ...} per line, or met prompt Parquet, read by datasets/prompts/load).
 */
const HERE = new URL('.', import.meta.url).pathname;

export const PromptLine = z.object({
  id: z.union([z.string().min(1), z.number().int()]).transform(String),
  text: z.string().min(1, 'a prompt needs non-empty text'),
  source_dataset: z.string().optional(),
  language: z.string().optional(),
  messages: z.array(z.object({ role: z.string(), content: z.string() })).optional(),
});

export function shippedPromptSets(): string[] {
  return ['demo'];
}

export function shippedPromptSetPath(name: string): string | undefined {
  const path = join(HERE, `${name}.jsonl`);
  return existsSync(path) ? path : undefined;
}

/** Reads a JSONL prompt file, naming the line and the field of any error. */
export function readPromptJsonl(path: string, promptSet: string): PromptRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new MetError(ErrorTypes.BadInput, `cannot read prompt file ${path}: ${(err as Error).message}`);
  }
  const rows: PromptRow[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new MetError(ErrorTypes.BadInput, `${path}:${i + 1} is not valid JSON`);
    }
    const parsed = PromptLine.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new MetError(ErrorTypes.BadInput, `${path}:${i + 1}: ${issue.path.join('.') || 'line'}: ${issue.message} (each line needs "id" and "text")`);
    }
    const p = parsed.data;
    if (seen.has(p.id)) throw new MetError(ErrorTypes.BadInput, `${path}:${i + 1}: duplicate prompt id '${p.id}'`);
    seen.add(p.id);
    rows.push({
      promptSet,
      promptId: p.id,
      sourceDataset: p.source_dataset ?? promptSet,
      language: p.language ?? null,
      text: p.text,
      messages: p.messages ? JSON.stringify(p.messages) : null,
    });
  });
  if (rows.length === 0) throw new MetError(ErrorTypes.BadInput, `${path} has no prompts`);
  return rows;
}

export function isJsonl(path: string): boolean {
  return ['.jsonl', '.ndjson'].includes(extname(path));
}
