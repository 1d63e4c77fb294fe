import { existsSync, readdirSync } from 'node:fs';
import { extname } from 'node:path';
import { ErrorTypes, MetError } from '../common/errors';
import type { RunSpec } from '../config/runSpec';
import { listCorpora, listPartitionDirs, promptsDir } from '../datasets/paths';
import { promptSetPath, shippedPromptSets } from '../datasets/prompts';

/**
 * Names checked before a workflow starts, against what this host's data folder holds: a wrong name
 * is said at once with what exists, instead of a FAILED run whose error is about something else
 * (`MetTooFewSamples ... has no samples` for a corpus that is not there).
 */

/** A run spec's prompt set: shipped, or a file in the data folder's prompts/ (or a worker config's promptRoots). */
export function checkPromptSet(spec: RunSpec, dataDir: string, promptRoots: string[] = []): void {
  if (!('set' in spec.prompts)) return;
  const roots = [promptsDir(dataDir), ...promptRoots];
  if (promptSetPath(spec.prompts.set, roots)) return;
  const inRoots = roots.flatMap((root) =>
    existsSync(root)
      ? readdirSync(root)
          .filter((f) => ['.jsonl', '.parquet'].includes(extname(f)))
          .map((f) => f.slice(0, -extname(f).length))
      : [],
  );
  throw new MetError(
    ErrorTypes.BadInput,
    `no prompt set named '${spec.prompts.set}': shipped: ${shippedPromptSets().join(', ')}; in ${roots.join(', ')}: ${inRoots.length ? [...new Set(inRoots)].sort().join(', ') : 'none'}. ` +
      `A set in a worker's promptRoots: name its worker config with --config; or give prompts.file.`,
  );
}

/** A local corpus's sample slices as model/source. */
const sliceNames = (dataDir: string, corpus: string): string[] =>
  listPartitionDirs(dataDir, corpus, 'samples').map((p) => `${p.partition.model}/${p.partition.source}`);

/** The corpora and model/source slices a test reads, when corpora live in this data folder (not in a bucket). */
export function checkSlices(dataDir: string, corpora: string | undefined, slices: { corpus: string; model: string; source: string }[]): void {
  if (corpora) return; // a bucket: the worker reads it through its cache; nothing local to check
  const here = listCorpora(dataDir);
  for (const s of slices) {
    if (!here.includes(s.corpus)) {
      throw new MetError(
        ErrorTypes.BadInput,
        `no corpus named '${s.corpus}' in ${dataDir}: corpora here: ${here.length ? here.join(', ') : 'none'} (met corpus ls; --data names another data folder)`,
      );
    }
    const present = sliceNames(dataDir, s.corpus);
    if (!present.includes(`${s.model}/${s.source}`)) {
      throw new MetError(
        ErrorTypes.BadInput,
        `corpus '${s.corpus}' has no slice ${s.model}/${s.source}: its slices (model/source) are ${present.length ? present.join(', ') : 'none yet'}`,
      );
    }
  }
}

/**
 * An audit spec's identify candidates (`identify.candidates`, slices of the audit's corpus collected
 * beforehand), checked at `met audit create`: a missing one would surface only at the firing that
 * turns a verdict to differs, as that identify's error. Every missing candidate is named at once.
 */
export function checkIdentifyCandidates(
  dataDir: string,
  corpora: string | undefined,
  spec: { name: string; corpus: string; identify?: { candidates: { model: string; source: string }[] } },
): void {
  if (corpora || !spec.identify) return; // a bucket: the worker reads it through its cache; nothing local to check
  const present = listCorpora(dataDir).includes(spec.corpus) ? sliceNames(dataDir, spec.corpus) : [];
  const missing = spec.identify.candidates.map((c) => `${c.model}/${c.source}`).filter((c) => !present.includes(c));
  if (missing.length === 0) return;
  const where = present.length ? `its slices (model/source) are ${present.join(', ')}` : `it has no slices yet in ${dataDir}`;
  throw new MetError(
    ErrorTypes.BadInput,
    `audit ${spec.name}: identify candidate${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are not slices' : 'is not a slice'} of corpus '${spec.corpus}' (${where}). ` +
      `Collect ${missing.length > 1 ? 'each' : 'it'} into corpus ${spec.corpus} first (met collect SPEC, with that model and source), or fix the candidate's model/source in the spec; ` +
      `otherwise identify would fail at the firing that turns a verdict to differs`,
  );
}
