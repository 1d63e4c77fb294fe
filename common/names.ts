import { z } from 'zod';
import { ErrorTypes, MetError } from './errors';

/**
 * The one rule for every name and id that comes from outside and becomes part of a path, a queue
 * or a workflow id (corpora, run ids, test ids, prompt sets, providers, models): 1-200 letters,
 * digits, '.', '_' or '-', starting with a letter or digit. No slashes, so no path traversal; no
 * spaces or control characters. The CLI, the HTTP API (zod) and workflows all use it.
 * Pure (zod only): workflows may import it.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
export const NAME_RULE = 'use 1-200 letters, digits, ".", "_" or "-", starting with a letter or digit (no spaces or slashes)';

export const Name = z.string().regex(NAME_PATTERN, NAME_RULE);

/** The name, or a BadInput error naming what it is for (the value shown escaped and cut short). */
export function checkName(what: string, value: string): string {
  if (typeof value === 'string' && NAME_PATTERN.test(value)) return value;
  const shown = JSON.stringify(String(value).slice(0, 60));
  throw new MetError(ErrorTypes.BadInput, `${what} ${shown} is not a valid name: ${NAME_RULE}`);
}
