import { ApplicationFailure, defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';
import { PROGRESS_QUERY, type ProgressSnapshot } from '../common/progress';
import type { DownloadActivities } from '../activities/download';
import { ErrorTypes, NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';
import { CatalogEntry, fileNameOf, type CatalogEntryInput } from '../download/catalog';

/**
 * downloadDataset: every file of a catalog entry downloaded (resumable, see activities/download.ts),
 * verified (size, sha256: a mismatch downloads again, twice, then fails), unpacked and converted.
 * Files land in `<dir>/<entry>/`; archives are extracted into `<dir>/<entry>/extracted/`.
 */
export interface DownloadInput {
  entry: CatalogEntryInput;
  /** Folder the entry's folder goes in (`<data>/downloads` by default, set by the client). */
  dir: string;
  /** How soon a silent (killed) worker's download is retried elsewhere. */
  heartbeatTimeoutSeconds?: number;
}

export interface DownloadOutcome {
  files: { name: string; path: string; bytes: number; sha256: string; attempts: number; resumedFrom: number[] }[];
  extractedTo?: string;
  converted?: { corpus: string; files: number; samples: number; logprobs: number };
}

/** Stages in met's one progress shape (common/progress.ts). */
export type DownloadProgress = ProgressSnapshot;
export const downloadProgressQuery = defineQuery<DownloadProgress>(PROGRESS_QUERY);

const VERIFY_ATTEMPTS = 3;

async function downloadDatasetSteps(input: DownloadInput): Promise<DownloadOutcome> {
  const entry = CatalogEntry.parse(input.entry);
  const acts = proxyActivities<DownloadActivities>({
    startToCloseTimeout: '24h',
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds ?? 30}s`,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 50, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
  });
  const folder = `${input.dir}/${entry.name}`;
  const progress: DownloadProgress = { stages: entry.files.map((f) => ({ name: fileNameOf(f), done: 0, total: 1, unit: 'files' })) };
  setHandler(downloadProgressQuery, () => progress);

  const outcome: DownloadOutcome = { files: [] };
  for (const [i, file] of entry.files.entries()) {
    const dest = `${folder}/${fileNameOf(file)}`;
    const resumedFrom: number[] = [];
    for (let attempt = 1; ; attempt++) {
      const fetched = await acts.downloadFile({ file, dest });
      resumedFrom.push(fetched.resumedFrom);
      const verified = await acts.verifyFile({ file, dest });
      if (verified.ok) {
        outcome.files.push({ name: fileNameOf(file), path: dest, bytes: verified.bytes, sha256: verified.sha256, attempts: attempt, resumedFrom });
        break;
      }
      if (attempt >= VERIFY_ATTEMPTS) {
        throw ApplicationFailure.create({
          type: ErrorTypes.ChecksumMismatch,
          nonRetryable: true,
          message: `${file.url} failed verification ${attempt} times (last: ${verified.problem}): the source changed or is corrupt; fix the catalog's size/sha256 or the URL`,
        });
      }
    }
    progress.stages[i].done = 1;
  }
  if (entry.archive !== 'none') {
    const into = `${folder}/extracted`;
    for (const f of outcome.files) await acts.unpackArchive({ archive: f.path, into, kind: entry.archive });
    outcome.extractedTo = into;
    if (entry.converter === 'met-release') {
      const r = await acts.convertRelease({ root: into, corpus: entry.name });
      outcome.converted = { corpus: entry.name, files: r.files + r.skipped, samples: r.samples, logprobs: r.logprobs };
    }
  }
  return outcome;
}

/** The workflow: its steps, failing with their root cause (type and message) rather than "Activity task failed". */
export async function downloadDataset(input: Parameters<typeof downloadDatasetSteps>[0]): ReturnType<typeof downloadDatasetSteps> {
  return withRootCause(() => downloadDatasetSteps(input));
}
