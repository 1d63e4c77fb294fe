import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Files that matter (run records, reports, shards, models, caches) are written whole or not at all:
 * a temporary file beside the target, fsynced, renamed over it, and the folder fsynced, so a crash
 * or a full disk leaves the old file or the new one, never a torn one, and the rename itself
 * survives a power cut. Every writer of such files goes through here (issue #31).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = tempBeside(path);
  try {
    writeFileSync(temp, data);
    commitFile(temp, path);
  } finally {
    rmSync(temp, { force: true });
  }
}

/** A temporary name in the target's folder (same file system, so the rename is atomic), unique per process and call. */
export function tempBeside(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Moves a finished temporary file (written by anyone: DuckDB, a download) into place: fsync it, rename, fsync the folder. */
export function commitFile(temp: string, path: string): void {
  fsyncPath(temp);
  renameSync(temp, path);
  fsyncPath(dirname(path));
}

/** commitFile with the fsyncs on the thread pool. */
export async function commitFileAsync(temp: string, path: string): Promise<void> {
  await fsyncPathAsync(temp);
  renameSync(temp, path);
  await fsyncPathAsync(dirname(path));
}

/** fsync of a file or a folder (a folder's entries: a rename in it is durable once it returns). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync on the thread pool, so other writers' JS keeps running while the disk catches up. */
export async function fsyncPathAsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
