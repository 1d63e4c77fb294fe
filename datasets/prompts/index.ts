import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { extname, isAbsolute, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { ErrorTypes, MetError } from '../../common/errors';
import { NAME_PATTERN } from '../../common/names';
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
      const issue = parsed.error.issues[0];
      throw new MetError(ErrorTypes.BadInput, `${shown}:${i + 1}: ${issue.path.join('.') || 'line'}: ${issue.message} (each line needs "id" and "text")`);
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
 * Workers own which files they read (design.md, "Trust boundaries"): a prompt file named by a run
 * spec or request is read only if it lies under one of the worker's prompt roots (the data
 * folder's prompts/ first, then the worker config's promptRoots), after following symlinks. No
 * URLs, no globs. A relative name is looked up under each root in turn. Messages name the file as
 * the spec gave it, never a worker's absolute path.
 */
export function resolvePromptFile(file: string, roots: string[]): string {
  const refuse = (why: string) => new MetError(ErrorTypes.Forbidden, `prompts.file '${file}' is refused: ${why}`);
  const rootsHint = "the data folder's prompts/ or a folder listed in the worker config's promptRoots";
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(file)) throw refuse(`a prompt file is a path under ${rootsHint}, not a URL`);
  if (/[*?[\]{}]/.test(file)) throw refuse('globs are not accepted: name one .jsonl or .parquet file');
  if (file.includes('\0')) throw refuse('the name contains a NUL byte');
  if (!isJsonl(file) && extname(file) !== '.parquet') throw refuse('use a .jsonl file ({"id", "text"} per line) or a met prompt .parquet file');
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return undefined;
    }
  };
  const inside = (path: string, root: string) => {
    const rel = relative(root, path);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
  const realRoots = roots.map((r) => real(resolve(r))).filter((r): r is string => r !== undefined);
  const candidates = isAbsolute(file) ? [file] : roots.map((r) => resolve(r, file));
  let outside = false;
  for (const candidate of candidates) {
    // The name itself must stay under a root (no ../), and so must what it points to (no symlinks out).
    if (!roots.some((r) => inside(resolve(candidate), resolve(r))) && !realRoots.some((r) => inside(resolve(candidate), r))) {
      outside = true;
      continue;
    }
    const target = real(candidate);
    if (target === undefined) continue;
    if (realRoots.some((r) => inside(target, r))) return target;
    outside = true;
  }
  if (outside) throw refuse(`prompt files are read only under ${rootsHint} (symlinks out of them are not followed)`);
  throw new MetError(ErrorTypes.BadRunSpec, `prompts.file '${file}' does not exist under ${rootsHint}: copy it there, or give prompts.set`);
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
