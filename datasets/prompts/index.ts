import { existsSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ErrorTypes, MetError } from '../../common/errors';
import { issueLine } from '../../common/issues';
import { NAME_PATTERN } from '../../common/names';
import { resolveUnderRoots } from '../roots';
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
/** `shown` names the file in messages (what the spec said, never a worker's absolute path). */
export function readPromptJsonl(path: string, promptSet: string, shown = path): PromptRow[] {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new MetError(ErrorTypes.BadInput, `cannot read prompt file ${shown}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  let text: string;
  try {
    // Invalid UTF-8 is an error, not silently replaced by U+FFFD (the prompt sent would differ from the file).
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const line = firstInvalidUtf8Line(bytes);
    throw new MetError(ErrorTypes.BadInput, `${shown}:${line} is not valid UTF-8: save the prompt file as UTF-8`);
  }
  const rows: PromptRow[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new MetError(ErrorTypes.BadInput, `${shown}:${i + 1} is not valid JSON`);
    }
    const parsed = PromptLine.safeParse(value);
    if (!parsed.success) {
      throw new MetError(ErrorTypes.BadInput, `${shown}:${i + 1}: ${issueLine(parsed.error.issues[0], 'line')} (each line needs "id" and "text")`);
    }
    const p = parsed.data;
    if (seen.has(p.id)) throw new MetError(ErrorTypes.BadInput, `${shown}:${i + 1}: duplicate prompt id '${p.id}'`);
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
  if (rows.length === 0) throw new MetError(ErrorTypes.BadInput, `${shown} has no prompts`);
  return rows;
}

export function isJsonl(path: string): boolean {
  return ['.jsonl', '.ndjson'].includes(extname(path));
}

/**
 * A prompt file a spec names: only under the worker's prompt roots (the data folder's prompts/
 * first, then the worker config's promptRoots), no URLs, globs or symlinks out (datasets/roots.ts).
 */
export function resolvePromptFile(file: string, roots: string[]): string {
  return resolveUnderRoots(file, roots, {
    field: 'prompts.file',
    rootsHint: "the data folder's prompts/ or a folder listed in the worker config's promptRoots",
    extensions: ['.jsonl', '.ndjson', '.parquet'],
    extensionHint: 'use a .jsonl file ({"id", "text"} per line) or a met prompt .parquet file',
    missingHint: 'copy it there, or give prompts.set',
  });
}

/** A prompt set by name: met's shipped sets, then <root>/<name>.jsonl or .parquet under the prompt roots. */
export function promptSetPath(name: string, roots: string[]): string | undefined {
  const shipped = shippedPromptSetPath(name);
  if (shipped) return shipped;
  if (!NAME_PATTERN.test(name)) return undefined;
  for (const root of roots) {
    for (const ext of ['.jsonl', '.parquet']) {
      try {
        return resolvePromptFile(join(resolve(root), `${name}${ext}`), [root]);
      } catch {
        // not under this root
      }
    }
  }
  return undefined;
}

/** The 1-based line of the first byte sequence that is not UTF-8. */
function firstInvalidUtf8Line(bytes: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  let line = 1;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        decoder.decode(bytes.subarray(start, i));
      } catch {
        return line;
      }
      line++;
      start = i + 1;
    }
  }
  return line;
}
