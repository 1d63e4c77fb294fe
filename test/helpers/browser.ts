import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { findChromium } from '../../report/screenshot';

/**
 * Debian's headless Chromium driven over the DevTools protocol through a pipe
 * (--remote-debugging-pipe: JSON messages ended by NUL on file descriptors 3 and 4). No driver
 * package and no browser download: the Chromium of scripts/ensure-chromium.sh, and Node alone.
 */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
  '--disable-extensions',
  '--remote-debugging-pipe',
];

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void; method: string };

export class Browser {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private buffer = '';
  private listeners: ((message: { method: string; params: Record<string, unknown>; sessionId?: string }) => void)[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const out = child.stdio[4] as Readable;
    out.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      let end: number;
      while ((end = this.buffer.indexOf('\0')) >= 0) {
        const message = JSON.parse(this.buffer.slice(0, end)) as {
          id?: number;
          result?: Record<string, unknown>;
          error?: { message: string };
          method?: string;
          params?: Record<string, unknown>;
          sessionId?: string;
        };
        this.buffer = this.buffer.slice(end + 1);
        if (message.id !== undefined) {
          const p = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.error) p?.reject(new Error(`${p.method}: ${message.error.message}`));
          else p?.resolve(message.result ?? {});
        } else if (message.method) {
          for (const l of this.listeners) l({ method: message.method, params: message.params ?? {}, sessionId: message.sessionId });
        }
      }
    });
  }

  static async launch(): Promise<Browser> {
    const chromium = findChromium();
    if (!chromium) throw new Error('Chromium not found: run `bash scripts/ensure-chromium.sh` (installs Debian chromium)');
    const profile = mkdtempSync(join(tmpdir(), 'met-cdp-'));
    const child = spawn(chromium, [...FLAGS, `--user-data-dir=${profile}`, 'about:blank'], {
      stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const browser = new Browser(child, profile);
    await browser.send('Browser.getVersion');
    return browser;
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const promise = new Promise<Record<string, unknown>>((resolve, reject) => this.pending.set(id, { resolve, reject, method }));
    (this.child.stdio[3] as Writable).write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    return promise;
  }

  on(listener: (message: { method: string; params: Record<string, unknown>; sessionId?: string }) => void): void {
    this.listeners.push(listener);
  }

  /** A new tab of `width` x `height` CSS pixels (a laptop screen by default). */
  async newPage(width = 1366, height = 768): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this, sessionId, width, height);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    await page.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    return page;
  }

  async close(): Promise<void> {
    await this.send('Browser.close').catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const timer = setTimeout(() => {
        try {
          process.kill(-(this.child.pid as number), 'SIGKILL');
        } catch {
          this.child.kill('SIGKILL');
        }
      }, 5000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    rmSync(this.profile, { recursive: true, force: true });
  }
}

export class Page {
  /** Console messages and uncaught errors of the page (for failure messages). */
  readonly log: string[] = [];

  constructor(
    private readonly browser: Browser,
    private readonly sessionId: string,
    private readonly width: number,
    private readonly height: number,
  ) {
    browser.on((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Runtime.consoleAPICalled')
        this.log.push(`console.${String(m.params.type)}: ${JSON.stringify((m.params.args as { value?: unknown }[]).map((a) => a.value))}`);
      if (m.method === 'Runtime.exceptionThrown')
        this.log.push(`exception: ${JSON.stringify((m.params.exceptionDetails as { exception?: { description?: string } }).exception?.description)}`);
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Navigates and waits for the load event. */
  async goto(url: string, timeoutMs = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const loaded = new Promise<void>((resolve, reject) => {
      this.browser.on((m) => m.sessionId === this.sessionId && m.method === 'Page.loadEventFired' && resolve());
      timer = setTimeout(() => reject(new Error(`${url} did not load within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const r = (await this.send('Page.navigate', { url })) as { errorText?: string };
      if (r.errorText) throw new Error(`navigating to ${url}: ${r.errorText}`);
      await loaded;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the tab (and with it its connections). */
  async close(): Promise<void> {
    await this.send('Page.close').catch(() => undefined);
  }

  /** The value of a JavaScript expression in the page (awaited when it is a promise). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}\n${expression}`);
    return r.result.value as T;
  }

  /** Polls `expression` until it is truthy; returns its value. */
  async waitFor<T>(what: string, expression: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await this.evaluate<T>(expression);
      if (v) return v;
      if (Date.now() > deadline) {
        const text = await this.evaluate<string>('document.body.innerText').catch(() => '');
        throw new Error(
          `timed out after ${timeoutMs} ms waiting in the page for ${what}\npage log:\n${this.log.join('\n')}\npage text:\n${text.slice(0, 3000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /** Types text into the focused element, as keystrokes. */
  async type(text: string): Promise<void> {
    await this.send('Input.insertText', { text });
  }

  /** A key press (keyDown, keyUp): Enter, Tab, ... */
  async press(key: 'Enter' | 'Tab' | ' '): Promise<void> {
    const codes = { Enter: [13, 'Enter', '\r'], Tab: [9, 'Tab', ''], ' ': [32, 'Space', ' '] } as const;
    const [keyCode, code, text] = codes[key];
    await this.send('Input.dispatchKeyEvent', { type: 'keyDown', key, code, windowsVirtualKeyCode: keyCode, text: text || undefined });
    await this.send('Input.dispatchKeyEvent', { type: 'keyUp', key, code, windowsVirtualKeyCode: keyCode });
  }

  /** Focuses the element and activates it from the keyboard (Enter), as a keyboard user would. */
  async activate(selector: string): Promise<void> {
    const found = await this.evaluate<boolean>(
      `(() => { const el = document.querySelector(${JSON.stringify(selector)}); if (!el) return false; el.focus(); return document.activeElement === el; })()`,
    );
    if (!found) throw new Error(`no focusable element ${selector}\npage log:\n${this.log.join('\n')}`);
    await this.press('Enter');
  }

  /** A PNG of the whole page (the viewport grown to the page's height for the shot). */
  async screenshot(path: string): Promise<void> {
    const height = await this.evaluate<number>('Math.ceil(document.documentElement.scrollHeight)');
    await this.send('Emulation.setDeviceMetricsOverride', {
      width: this.width,
      height: Math.max(this.height, Math.min(height, 6000)),
      deviceScaleFactor: 1,
      mobile: false,
    });
    const { data } = (await this.send('Page.captureScreenshot', { format: 'png' })) as { data: string };
    await this.send('Emulation.setDeviceMetricsOverride', { width: this.width, height: this.height, deviceScaleFactor: 1, mobile: false });
    writeFileSync(path, Buffer.from(data, 'base64'));
  }
}
