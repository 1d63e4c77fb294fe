import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { commitFile } from '../common/files';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { DuckDBInstance } from '@duckdb/node-api';
import { toApplicationFailure } from '../common/failures';
import type { CatalogFile } from '../download/catalog';
import { extract, type ArchiveKind } from '../download/archive';
import { authHeaders, fetchFile, partPath, RetryableDownloadError, sha256File } from '../download/http';
import { convertRelease } from '../download/release';
import { heartbeatingAll } from './heartbeat';

/**
 * Downloads on the CPU queue. `downloadFile` heartbeats the durable byte offset; a retry after a
 * killed worker or a dropped connection continues from the last heartbeat with an HTTP Range
 * request. `verifyFile` checks size and sha256 and only then gives the file its final name.
 */
export interface DownloadFileInput {
  file: CatalogFile;
  /** Final path of the file (the download lives in `<dest>.part` until verified). */
  dest: string;
}

export interface DownloadFileResult {
  bytes: number;
  resumedFrom: number;
  restarted: boolean;
  /** The verified file was already there. */
  skipped: boolean;
}

export interface VerifyResult {
  ok: boolean;
  bytes: number;
  sha256: string;
  problem?: string;
}

export function createDownloadActivities(deps: { duck: DuckDBInstance; dataDir: string; env?: Record<string, string | undefined> }) {
  const { downloadFile, ...steps } = {
    async downloadFile(input: DownloadFileInput): Promise<DownloadFileResult> {
      try {
        if (existsSync(input.dest)) return { bytes: statSync(input.dest).size, resumedFrom: 0, restarted: false, skipped: true };
        mkdirSync(join(input.dest, '..'), { recursive: true });
        const ctx = Context.current();
        const last = ctx.info.heartbeatDetails as { offset?: number } | undefined;
        const result = await fetchFile({
          url: input.file.url,
          dest: input.dest,
          offset: typeof last?.offset === 'number' && existsSync(partPath(input.dest)) ? Math.min(last.offset, statSync(partPath(input.dest)).size) : undefined,
          headers: authHeaders(input.file.url, deps.env ?? {}),
          onProgress: (offset, total) => ctx.heartbeat({ offset, total }),
          signal: ctx.cancellationSignal,
        });
        return { ...result, skipped: false };
      } catch (err) {
        if (err instanceof RetryableDownloadError)
          throw ApplicationFailure.create({ type: 'MetDownloadInterrupted', message: err.message, nonRetryable: false });
        throw toApplicationFailure(err);
      }
    },

    /** Size and sha256 of the finished download: a match renames it into place, a mismatch deletes it. */
    async verifyFile(input: DownloadFileInput): Promise<VerifyResult> {
      try {
        const path = existsSync(input.dest) ? input.dest : partPath(input.dest);
        const bytes = statSync(path).size;
        const sha256 = await sha256File(path);
        let problem: string | undefined;
        if (input.file.size !== undefined && bytes !== input.file.size) problem = `${bytes} bytes, expected ${input.file.size}`;
        else if (input.file.sha256 && sha256 !== input.file.sha256) problem = `sha256 ${sha256}, expected ${input.file.sha256}`;
        if (problem) {
          rmSync(path, { force: true });
          return { ok: false, bytes, sha256, problem };
        }
        if (path !== input.dest) commitFile(path, input.dest);
        return { ok: true, bytes, sha256 };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /** Extracts once: a marker records a finished extraction, so a retry does not redo it. */
    async unpackArchive(input: { archive: string; into: string; kind: ArchiveKind }): Promise<{ files: number; skipped: boolean }> {
      try {
        const marker = join(input.into, `.extracted-${input.archive.split('/').pop()}`);
        if (existsSync(marker)) return { files: 0, skipped: true };
        const files = await extract(input.archive, input.into, input.kind);
        writeFileSync(marker, new Date().toISOString());
        return { files, skipped: false };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    async convertRelease(input: { root: string; corpus: string }) {
      try {
        const ctx = Context.current();
        return await convertRelease({
          duck: deps.duck,
          dataDir: deps.dataDir,
          root: input.root,
          corpus: input.corpus,
          onFile: (done, total) => ctx.heartbeat({ done, total }),
        });
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
  // downloadFile heartbeats its durable byte offset, which a retry resumes from (a stalled transfer is
  // retried); a timer's heartbeat would overwrite it. The others heartbeat on a timer (hashing and
  // unpacking a large file take longer than the heartbeat timeout).
  return { downloadFile, ...heartbeatingAll(steps) };
}
export type DownloadActivities = ReturnType<typeof createDownloadActivities>;
