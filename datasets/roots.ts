import { realpathSync } from 'node:fs';
import { extname, isAbsolute, relative, resolve } from 'node:path';
import { ErrorTypes, MetError } from '../common/errors';

/**
 * Workers own which files they read (docs/design.md, "Trust boundaries"): a file a run spec or request
 * names is read only if it lies under one of the worker's roots, after following symlinks. No
 * URLs, no globs. A relative name is looked up under each root in turn. Messages name the file as
 * the spec gave it, never a worker's absolute path.
 */
export interface RootRule {
  /** The spec field, for messages ("prompts.file"). */
  field: string;
  /** Where such files may be, in words ("the data folder's prompts/ or ..."). */
  rootsHint: string;
  /** Accepted extensions, e.g. ['.jsonl', '.parquet'], and what to say otherwise. */
  extensions: string[];
  extensionHint: string;
  /** What to do when the file is not there. */
  missingHint: string;
}

export function resolveUnderRoots(file: string, roots: string[], rule: RootRule): string {
  const refuse = (why: string) => new MetError(ErrorTypes.Forbidden, `${rule.field} '${file}' is refused: ${why}`);
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(file)) throw refuse(`a file is a path under ${rule.rootsHint}, not a URL`);
  if (/[*?[\]{}]/.test(file)) throw refuse(`globs are not accepted: name one file`);
  if (file.includes('\0')) throw refuse('the name contains a NUL byte');
  if (!rule.extensions.includes(extname(file)) && !rule.extensions.some((e) => file.endsWith(e))) throw refuse(rule.extensionHint);
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
  if (outside) throw refuse(`files are read only under ${rule.rootsHint} (symlinks out of them are not followed)`);
  throw new MetError(ErrorTypes.BadRunSpec, `${rule.field} '${file}' does not exist under ${rule.rootsHint}: ${rule.missingHint}`);
}
