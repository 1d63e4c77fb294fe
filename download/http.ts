import { createHash } from 'node:crypto';
import { createReadStream, existsSync, fdatasyncSync, openSync, closeSync, statSync, truncateSync, writeSync } from 'node:fs';
import { ErrorTypes, MetError } from '../common/errors';

/**
 * One file over HTTP(S), resumable: bytes go to `<dest>.part`; a restart asks for the rest with
 * `Range: bytes=<offset>-` and appends when the server answers 206 from that offset, or starts over
 * when it answers 200 (no Range support). Progress is reported only for bytes already fsynced, so an
 * offset a caller records (a Temporal heartbeat) is always safe to resume from.
 * Handles Google Drive's "can't scan this file for viruses" page and Hugging Face tokens.
 */
export interface FetchFileOptions {
  url: string;
  /** The finished file; the download lives in `<dest>.part` until then. */
  dest: string;
  /** Resume from here (bytes of `<dest>.part` known good); default: the .part file's size. */
  offset?: number;
  headers?: Record<string, string>;
  /** Called with durable offsets (after fsync), at most every `progressEveryMs`. */
  onProgress?: (offset: number, total: number | undefined) => void;
  progressEveryMs?: number;
  signal?: AbortSignal;
}

export interface FetchFileResult {
  bytes: number;
  /** Where this attempt started (0: from scratch). */
  resumedFrom: number;
  /** True when the server ignored Range and the file was fetched from the start again. */
  restarted: boolean;
}

export class RetryableDownloadError extends Error {}

export const partPath = (dest: string) => `${dest}.part`;

/** Authorization for hosts that want it: a Hugging Face token from the worker's environment. */
export function authHeaders(url: string, env: Record<string, string | undefined>): Record<string, string> {
  const host = new URL(url).hostname;
  const token = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  return token && (host === 'huggingface.co' || host.endsWith('.huggingface.co')) ? { authorization: `Bearer ${token}` } : {};
}

/** Google Drive answers large files with an HTML form to confirm; its fields give the real URL. */
export function driveConfirmUrl(html: string, base: string): string | undefined {
  const action = /<form[^>]+action="([^"]+)"/i.exec(html)?.[1];
  if (!action) return undefined;
  const url = new URL(action.replace(/&amp;/g, '&'), base);
  for (const m of html.matchAll(/<input[^>]+type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]+)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1];
    if (name) url.searchParams.set(name, value ?? '');
  }
  return url.toString();
}

const isDrive = (url: string) => /(^|\.)drive\.google\.com$|(^|\.)drive\.usercontent\.google\.com$/.test(new URL(url).hostname);

export async function fetchFile(options: FetchFileOptions): Promise<FetchFileResult> {
  const part = partPath(options.dest);
  let offset = options.offset ?? (existsSync(part) ? statSync(part).size : 0);
  if (existsSync(part) && statSync(part).size > offset) truncateSync(part, offset); // bytes past the last durable offset are not trusted
  if (!existsSync(part)) offset = 0;
  const resumedFrom = offset;
  let url = options.url;
  let response = await request(url, offset, options);
  if (isDrive(url) && (response.headers.get('content-type') ?? '').includes('text/html')) {
    const confirm = driveConfirmUrl(await response.text(), url);
    if (!confirm) throw new MetError(ErrorTypes.BadInput, `Google Drive answered a page without a download form for ${url}: is the file shared publicly?`);
    url = confirm;
    response = await request(url, offset, options);
  }
  let restarted = false;
  if (offset > 0 && response.status === 200) {
    restarted = true; // the server ignored Range: start over
    offset = 0;
  } else if (response.status === 206) {
    const start = Number(/bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1]);
    if (start !== offset) {
      await response.body?.cancel();
      throw new RetryableDownloadError(`asked for bytes from ${offset}, the server sent from ${start}`);
    }
  } else if (response.status === 416 && offset > 0) {
    // Nothing left to send: the part file already holds the whole file.
    await response.body?.cancel();
    return { bytes: offset, resumedFrom, restarted };
  } else if (response.status !== 200) {
    await response.body?.cancel();
    const message = `GET ${url} answered ${response.status} ${response.statusText}`;
    if (response.status >= 500 || response.status === 429 || response.status === 408) throw new RetryableDownloadError(message);
    throw new MetError(response.status === 404 ? ErrorTypes.NotFound : ErrorTypes.BadInput, `${message}${response.status === 401 || response.status === 403 ? ' (a Hugging Face file may need HF_TOKEN in the worker environment)' : ''}`);
  }
  const length = Number(response.headers.get('content-length'));
  const total = Number.isFinite(length) && response.headers.has('content-length') ? offset + length : undefined;

  const fd = openSync(part, offset === 0 ? 'w' : 'r+');
  let position = offset;
  let lastProgress = 0;
  const every = options.progressEveryMs ?? 1000;
  try {
    if (!response.body) throw new RetryableDownloadError(`GET ${url} returned no body`);
    // Chunks arrive at ~64 KiB: writing them in 4 MiB batches halves the system calls' cost.
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = () => {
      if (pendingBytes === 0) return;
      const batch = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
      let written = 0;
      while (written < batch.length) written += writeSync(fd, batch, written, batch.length - written, position + written);
      position += batch.length;
      pending = [];
      pendingBytes = 0;
    };
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= 4 << 20) flush();
      if (options.onProgress && Date.now() - lastProgress >= every) {
        flush();
        fdatasyncSync(fd);
        lastProgress = Date.now();
        options.onProgress(position, total);
      }
    }
    flush();
    fdatasyncSync(fd);
  } catch (err) {
    fdatasyncSync(fd);
    if (err instanceof MetError || (options.signal?.aborted ?? false)) throw err;
    throw new RetryableDownloadError(`download of ${url} broke at byte ${position}: ${(err as Error).message}`);
  } finally {
    closeSync(fd);
  }
  options.onProgress?.(position, total);
  if (total !== undefined && position !== total) throw new RetryableDownloadError(`download of ${url} ended at byte ${position} of ${total}`);
  return { bytes: position, resumedFrom, restarted };
}

async function request(url: string, offset: number, options: FetchFileOptions): Promise<Response> {
  try {
    return await fetch(url, { headers: { ...options.headers, ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) }, redirect: 'follow', signal: options.signal });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw new RetryableDownloadError(`GET ${url} failed: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
