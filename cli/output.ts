/** The exit status after Ctrl-C stopped a watch (128 + SIGINT, as shells report it). */
export const INTERRUPTED_EXIT = 130;

import type { ZodError } from 'zod';
import { MetError } from '../common/errors';
import { formatIssues } from '../common/issues';
import { escapeControls } from '../common/text';

/** One paragraph for the user: what went wrong and what to do. Stack traces only with MET_DEBUG=1. */
export function formatError(err: unknown): string {
  // An error may carry a provider's body or a file's text: escaped before it reaches the terminal.
  return escapeControls(rawError(err));
}

function rawError(err: unknown): string {
  if (process.env.MET_DEBUG === '1' && err instanceof Error && err.stack) return err.stack;
  if (err instanceof MetError) return `met: ${err.message}`;
  if (isZodError(err)) {
    return `met: ${formatIssues(err, 'invalid input', '(root)')}`;
  }
  if (err instanceof Error) return `met: ${err.message}`;
  return `met: ${String(err)}`;
}

/**
 * met's one wording for launching a job: "Started run X (detail)", or "Attached to run X (already
 * running; detail)" when the same job was running already.
 */
export function launchLine(attached: boolean, runId: string, kind?: string, detail?: string): string {
  const notes = [...(attached ? ['already running'] : []), ...(detail ? [detail] : [])];
  return `${attached ? 'Attached to' : 'Started'} ${kind ? `${kind} ` : ''}run ${runId}${notes.length ? ` (${notes.join('; ')})` : ''}`;
}

/**
 * Exit codes of commands that give a verdict (`met test`, `met audit show`), so a CI job can gate
 * on it: 0 consistent, 3 differs; 1 stays "the command failed" (no verdict).
 */
export const VERDICT_EXIT = { consistent: 0, differs: 3 } as const;

/** Prints a value as pretty JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** zod's error, recognised without loading zod (commands that never parse input don't load it). */
function isZodError(err: unknown): err is ZodError {
  return err instanceof Error && err.name === 'ZodError' && Array.isArray((err as Partial<ZodError>).issues);
}
