import { createHash } from 'node:crypto';
import { createReadStream, existsSync, fdatasync, fdatasyncSync, openSync, closeSync, statSync, truncateSync, writevSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
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
  const partSize = existsSync(part) ? statSync(part).size : 0;
  // Bytes past the last durable offset are not trusted; a part file shorter than it (a machine crash) resumes from its end.
  let offset = Math.min(options.offset ?? partSize, partSize);
  if (partSize > offset) truncateSync(part, offset);
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
      await response.body.cancel();
      throw new RetryableDownloadError(`asked for bytes from ${offset}, the server sent from ${start}`);
    }
  } else if (response.status === 416 && offset > 0) {
    // Nothing left to send: the part file already holds the whole file.
    await response.body.cancel();
    return { bytes: offset, resumedFrom, restarted };
  } else if (response.status !== 200) {
    await response.body.cancel();
    const message = `GET ${url} answered ${response.status} ${response.statusText}`;
    if (response.status >= 500 || response.status === 429 || response.status === 408) throw new RetryableDownloadError(message);
    throw new MetError(
      response.status === 404 ? ErrorTypes.NotFound : ErrorTypes.BadInput,
      `${message}${response.status === 401 || response.status === 403 ? ' (a Hugging Face file may need HF_TOKEN in the worker environment)' : ''}`,
    );
  }
  const length = Number(response.headers.get('content-length'));
  const total = Number.isFinite(length) && response.headers.has('content-length') ? offset + length : undefined;

  const fd = openSync(part, offset === 0 ? 'w' : 'r+');
  let position = offset;
  let lastProgress = 0;
  let syncing: Promise<void> | undefined;
  const every = options.progressEveryMs ?? 1000;
  try {
    // Chunks arrive at ~64 KiB: one writev per 4 MiB of them cuts the system calls without copying.
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = () => {
      let remaining = pendingBytes;
      let buffers = pending;
      while (remaining > 0) {
        const written = writevSync(fd, buffers, position);
        position += written;
        remaining -= written;
        if (remaining > 0) buffers = unwritten(buffers, written);
      }
      pending = [];
      pendingBytes = 0;
    };
    for await (const chunk of response.body) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= 4 << 20) flush();
      if (options.onProgress && !syncing && Date.now() - lastProgress >= every) {
        // fdatasync on the thread pool while the download goes on; the offset is reported once it is durable.
        flush();
        const durable = position;
        lastProgress = Date.now();
        syncing = new Promise<void>((done) =>
          fdatasync(fd, (err) => {
            syncing = undefined;
            if (!err) options.onProgress?.(durable, total);
            done();
          }),
        );
      }
    }
    flush();
    await syncing;
    fdatasyncSync(fd);
  } catch (err) {
    await syncing;
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

/** What is left of `buffers` after the first `written` bytes (a short writev). */
function unwritten(buffers: Uint8Array[], written: number): Uint8Array[] {
  let skip = written;
  let i = 0;
  while (skip >= buffers[i].length) skip -= buffers[i++].length;
  return [buffers[i].subarray(skip), ...buffers.slice(i + 1)];
}

/** The part of a response fetchFile needs; node:http streams Buffers without web-stream overhead. */
interface HttpResponse {
  status: number;
  statusText: string;
  headers: { get(name: string): string | null; has(name: string): boolean };
  body: AsyncIterable<Uint8Array> & { cancel(): Promise<void> };
  text(): Promise<string>;
}

const MAX_REDIRECTS = 10;

async function request(url: string, offset: number, options: FetchFileOptions): Promise<HttpResponse> {
  try {
    return await get(url, { ...options.headers, ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) }, options.signal, MAX_REDIRECTS);
  } catch (err) {
    // A redirect loop or a redirect to file:// will not get better by retrying: fail at once.
    if (options.signal?.aborted || err instanceof MetError) throw err;
    throw new RetryableDownloadError(`GET ${url} failed: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
  }
}

function get(url: string, headers: Record<string, string>, signal: AbortSignal | undefined, redirectsLeft: number): Promise<HttpResponse> {
  const target = new URL(url);
  const client = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new MetError(ErrorTypes.BadInput, `cannot download ${url}: only http and https URLs (a redirect may not lead elsewhere)`));
  return new Promise((resolve, reject) => {
    const req = client.get(target, { headers: { 'user-agent': 'met', ...headers }, signal }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location) {
        res.resume();
        if (redirectsLeft <= 0)
          return reject(new MetError(ErrorTypes.BadInput, `GET ${url}: more than ${MAX_REDIRECTS} redirects (a redirect loop?); check the URL`));
        const next = new URL(location, target);
        // Like fetch: credentials stay with their origin (Hugging Face redirects to a signed CDN URL).
        const nextHeaders =
          next.origin === target.origin ? headers : Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
        return resolve(get(next.toString(), nextHeaders, signal, redirectsLeft - 1));
      }
      const header = (name: string) => {
        const value = res.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : String(value);
      };
      resolve({
        status,
        statusText: res.statusMessage ?? '',
        headers: { get: header, has: (name) => header(name) !== null },
        body: Object.assign(res as AsyncIterable<Uint8Array>, {
          cancel: async () => {
            res.destroy();
          },
        }),
        text: async () => {
          const chunks: Buffer[] = [];
          for await (const chunk of res) chunks.push(chunk as Buffer);
          return Buffer.concat(chunks).toString('utf8');
        },
      });
    });
    req.on('error', reject);
  });
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
