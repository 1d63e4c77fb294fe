import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorTypes, MetError } from '../common/errors';

/**
 * Screenshots of a report page with Debian's headless Chromium, driven by its command-line flags
 * (no browser download, no driver dependency). Used by the report tests to check that figures
 * render in a real browser, and available to anyone who wants a picture of a report.
 */

/** Flags that keep Chromium off the network (this machine's closed network refuses its background calls). */
const OFFLINE_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
];

/** Path of a Chromium binary: `explicit`, then /usr/bin/chromium, then chromium / chromium-browser on PATH. */
export function findChromium(explicit?: string): string | undefined {
  const candidates = [explicit, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'chromium'), join(dir, 'chromium-browser'));
  for (const c of candidates) {
    if (!c || !existsSync(c)) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not executable: keep looking
    }
  }
  return undefined;
}

export interface ScreenshotOptions {
  width?: number;
  height?: number;
  chromium?: string;
  timeoutMs?: number;
}

/** Opens `page` (a file path or URL) in headless Chromium and writes a PNG screenshot to `outPng`. */
export async function screenshot(page: string, outPng: string, opts: ScreenshotOptions = {}): Promise<void> {
  const chromium = findChromium(opts.chromium);
  if (!chromium) throw new MetError(ErrorTypes.NotFound, 'Chromium not found: run `bash scripts/ensure-chromium.sh` (installs Debian chromium)');
  const url = /^[a-z]+:\/\//i.test(page) ? page : pathToFileURL(page).href;
  const profile = mkdtempSync(join(tmpdir(), 'met-chromium-'));
  const args = [...OFFLINE_FLAGS, `--user-data-dir=${profile}`, `--window-size=${opts.width ?? 1280},${opts.height ?? 2000}`, `--screenshot=${outPng}`, url];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(chromium, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      const timer = setTimeout(() => {
        // Chromium starts helper processes: end the whole group it leads.
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
        reject(new Error(`chromium did not finish the screenshot within ${opts.timeoutMs ?? 60_000} ms`));
      }, opts.timeoutMs ?? 60_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        if (code === 0 && existsSync(outPng)) resolve();
        else reject(new Error(`chromium exited with ${code} and wrote no screenshot:\n${stderr}`));
      });
    });
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
