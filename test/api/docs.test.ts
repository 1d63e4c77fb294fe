import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startApi } from '../../api/server';
import { findChromium } from '../../report/screenshot';
import { Browser, type Page } from '../helpers/browser';
import { useTestEnv } from '../helpers/env';
import type { TestTemporal } from '../helpers/temporal';

/**
 * Issue #28: /docs (Swagger UI) in a browser when the API has a token. The page's files load
 * without it; the page asks for the token as the console does, and sends it as a Bearer header on
 * the OpenAPI document's request and on "Try it out". A token in a query string opens nothing.
 */
let temporal: TestTemporal;
let api: Awaited<ReturnType<typeof startApi>>;
let browser: Browser | undefined;
const token = randomBytes(24).toString('hex');
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const skip = !findChromium() && !inCi ? 'Chromium not installed: run `bash scripts/ensure-chromium.sh` (Debian chromium)' : false;
const OUT = join(process.env.MET_TEST_OUTPUT ?? join(tmpdir(), 'met-test-output'), 'docs');
const dataDir = useTestEnv('met-docs-', (env) => ({ temporal } = env), {
  setUp: async () => {
    api = await startApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, port: 0, token });
    if (!skip) browser = await Browser.launch();
  },
  beforeClose: async () => {
    await browser?.close();
    await api?.close();
  },
});

/** page.waitFor that outlasts the page reloading under it (the form reloads the page). */
async function waitThrough<T>(page: Page, what: string, expression: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await page.waitFor<T>(what, expression, Math.max(1, deadline - Date.now()));
    } catch (err) {
      if (Date.now() > deadline || !/context|navigat|destroyed/i.test((err as Error).message)) throw err;
    }
  }
}

test("no data without the token, which a query string does not carry; the page's files load", async () => {
  for (const path of ['/docs', '/docs/', '/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/static/theme/met-token.js']) {
    assert.equal((await fetch(`${api.url}${path}`)).status, 200, path);
  }
  for (const path of [
    '/docs/json',
    '/docs/yaml',
    '/openapi.json',
    `/docs/json?token=${token}`,
    `/docs/json?access_token=${token}`,
    `/health?authorization=Bearer%20${token}`,
  ]) {
    assert.equal((await fetch(`${api.url}${path}`)).status, 401, path);
  }
  // The files' wildcard route serves files only: not the document through a path trick.
  const trick = await fetch(`${api.url}/docs/static/..%2Fjson`);
  assert.equal(trick.status, 404);
  assert.doesNotMatch(await trick.text(), /openapi/);
  assert.equal((await fetch(`${api.url}/docs/json`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
});

test(
  '/docs in Chromium: asks for the token, refuses a wrong one, and with the right one shows the API and runs "Try it out" through it',
  { skip, timeout: 120_000 },
  async () => {
    mkdirSync(OUT, { recursive: true });
    const page = await browser!.newPage();
    try {
      await page.goto(`${api.url}/docs/`);
      await page.waitFor('the token form', `document.getElementById('met-login') !== null && document.activeElement?.id === 'met-token'`);
      assert.equal(await page.evaluate<number>(`document.querySelectorAll('.opblock').length`), 0, 'no operation listed without the token');
      await page.type('wrong-token-0123456789abcdef');
      await page.press('Enter');
      await waitThrough(page, 'the refusal', `document.getElementById('met-login-error')?.textContent === 'The token was refused.'`);
      await page.type(token);
      await page.press('Enter');
      await waitThrough(
        page,
        'the operations',
        `document.querySelector('.opblock-summary-path[data-path="/health"]') !== null && document.getElementById('met-login') === null`,
      );
      // "Try it out" on GET /health, from the page: the request carries the token.
      const op = `document.querySelector('.opblock-summary-path[data-path="/health"]').closest('.opblock')`;
      await page.evaluate(`${op}.querySelector('.opblock-summary-control').click()`);
      await page.waitFor('Try it out', `${op}.querySelector('.try-out__btn') !== null`);
      await page.evaluate(`${op}.querySelector('.try-out__btn').click()`);
      await page.waitFor('Execute', `${op}.querySelector('.execute') !== null`);
      await page.evaluate(`${op}.querySelector('.execute').click()`);
      const status = await page.waitFor<string>('the response', `${op}.querySelector('.live-responses-table tbody .response-col_status')?.textContent.trim()`);
      assert.equal(status, '200');
      await page.screenshot(join(OUT, 'docs-try-it-out.png'));
      // The token went in a header: no URL the page requested, nor the page itself, carries it.
      const urls = await page.evaluate<string[]>(`[location.href, ...performance.getEntriesByType('resource').map((e) => e.name)]`);
      assert.ok(urls.length > 3 && urls.every((u) => !u.includes(token)), urls.join('\n'));
      assert.ok(!(await page.evaluate<string>('document.documentElement.outerHTML')).includes(token), 'the token is never shown');
      assert.deepEqual(
        page.log.filter((l) => l.startsWith('exception')),
        [],
        'no script errors',
      );
    } finally {
      await page.close();
    }
  },
);
