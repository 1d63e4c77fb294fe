/**
 * Issue #32's must-show: the web console at `/` of `met api`, driven in Debian's headless Chromium
 * over the DevTools protocol (test/helpers/browser.ts). An audit of a `met serve` stand-in is fired
 * and paused from the page (keyboard: focus and Enter); the stand-in then serves Q4_0 instead of
 * F32, and the page shows the verdict turn to differs without a reload. A slow collection's
 * progress moves on the runs view, and is cancelled and resumed from it; the fleet view lists the
 * test's workers and a queue that has work but no worker. With a token, the page asks for it and
 * no data is readable without it. Screenshots of every view go to the test output folder
 * ($MET_TEST_OUTPUT or <tmp>/met-test-output, never the repository), with page weight and first
 * render time (metrics.json).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { runSummary } from '../../api/console';
import { startApi } from '../../api/server';
import { collectionRecord, powerRecord } from '../helpers/records';
import { createAudit, deleteAudit, describeAudit } from '../../client/audits';
import { parseAuditSpec } from '../../config/auditSpec';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { startServe, type RunningServe } from '../../serve/server';
import { modelTaskQueue, providerTaskQueue } from '../../temporal/queues';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { providerWorkerPlans } from '../../workers/provider';
import { planIdentity, type WorkerPlan } from '../../workers/run';
import { findChromium } from '../../report/screenshot';
import { Browser, type Page } from '../helpers/browser';
import { useTestEnv } from '../helpers/env';
import { uniqueName, type TestTemporal } from '../helpers/temporal';

let temporal: TestTemporal;
let duck: DuckDBInstance;
let f32: LlamaBackend;
let q4: LlamaBackend;
let serve: RunningServe;
let slow: RunningServe;
let browser: Browser;
let api: Awaited<ReturnType<typeof startApi>>;
let plans: WorkerPlan[];
let stopWorkers: (() => Promise<void>) | undefined;
const model = uniqueName('tinyc');
const stand = uniqueName('stand');
const slowProvider = uniqueName('slow');
const cpuQueue = uniqueName('console-cpu');
const PRICES = { inputPerMillion: 0.5, outputPerMillion: 1.5 };
const OUT = join(process.env.MET_TEST_OUTPUT ?? join(tmpdir(), 'met-test-output'), 'console');
// As test/report/chromium.test.ts: in CI a missing Chromium fails the tests; on a developer machine they are skipped with the reason.
const inCi = Boolean(process.env.CI) && process.env.CI !== 'false';
const skip = !findChromium() && !inCi ? 'Chromium not installed: run `bash scripts/ensure-chromium.sh` (Debian chromium)' : false;

const dataDir = useTestEnv('met-console-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    const paths = writeTinyModels(join(dataDir, 'models'));
    f32 = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model });
    q4 = await loadLlamaBackend({ path: paths.nf4, precision: 'nf4', model });
    serve = await startServe({ backend: f32, claimModel: model });
    // A slow provider (latency per request): a collection whose progress can be watched moving.
    slow = await startServe({ backend: f32, claimModel: model, faults: { latencyMs: 150 } });
    plans = [
      cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue }),
      ...modelWorkerPlans({ dataDir, duck, backend: f32, gpu: 'cpu' }),
      ...providerWorkerPlans({
        dataDir,
        duck,
        env: {},
        providers: [
          { name: stand, baseURL: serve.url, concurrentUnits: 2, timeoutMs: 10_000, prices: PRICES },
          { name: slowProvider, baseURL: slow.url, concurrentUnits: 1, timeoutMs: 10_000 },
        ],
      }),
    ];
    // Workers say who they are as met workers do (host, pid, version, model, data): the fleet view shows it.
    const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, identity: planIdentity(p, dataDir), ...p.options })));
    const running = workers.map((w) => w.run());
    stopWorkers = async () => {
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
    };
    // As met up --api does: the model queue is a health queue, so the fleet view lists it before any run needs it.
    api = await startApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, port: 0, taskQueue: cpuQueue, healthQueues: [modelTaskQueue(model, 'fp32')], prices: { [stand]: PRICES } });
    if (!skip) browser = await Browser.launch();
    mkdirSync(OUT, { recursive: true });
  },
  beforeClose: async () => {
    await browser?.close();
    await api?.close();
    await stopWorkers?.();
    await serve?.close();
    await slow?.close();
    await f32?.close();
    await q4?.close();
  },
});

const json = async (r: Response): Promise<any> => r.json();
const post = (url: string, body?: unknown) => fetch(url, { method: 'POST', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });

/** Restarts the stand-in on the same port with another backend: the provider config's URL stays put. */
async function swapServe(backend: LlamaBackend): Promise<void> {
  const port = serve.port;
  await serve.close();
  serve = await startServe({ backend, claimModel: model, port });
}

const PROMPTS = 8;
const PER_PROMPT = 20;
const sampling = { maxTokens: 24, temperature: 1 };

/**
 * Text on the page whose contrast with its background is below WCAG AA (4.5:1): every element with
 * text of its own (hidden ones aside), and the charts' text against their white ground.
 */
const LOW_CONTRAST = `(() => {
  const lum = (c) => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map((v) => { v = Number(v) / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ground = (el) => { for (let e = el; e; e = e.parentElement) { const m = getComputedStyle(e).backgroundColor.match(/[\\d.]+/g); if (m && (m.length < 4 || Number(m[3]) > 0)) return getComputedStyle(e).backgroundColor; } return 'rgb(255, 255, 255)'; };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).map((n) => n.textContent.trim()).join(' ');
    if (!own || el.getClientRects().length === 0) continue;
    const svg = el.closest('svg');
    const fg = svg ? getComputedStyle(el).fill : getComputedStyle(el).color;
    const [a, b] = [lum(fg), lum(svg ? 'rgb(255, 255, 255)' : ground(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(own.slice(0, 40) + ': ' + ratio.toFixed(2));
  }
  return low;
})()`;

/** The text of an element of the page, or null. */
const textOf = (page: Page, selector: string) => page.evaluate<string | null>(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`);

test('the console in Chromium: an audit fired and paused from the page flips consistent -> differs without a reload; a collection moves, is cancelled and resumed; the fleet lists the workers', { skip, timeout: 150_000 }, async (t) => {
  const started = Date.now();
  // The reference: a stored slice from the local F32 model.
  const refSpec = parseRunSpec({ corpus: 'console', prompts: { set: 'demo', limit: PROMPTS }, samplesPerPrompt: PER_PROMPT, sampling, sources: [{ kind: 'local', model, precision: 'fp32', source: 'reference' }] });
  await temporal.client.workflow.execute(collectCorpus, { taskQueue: cpuQueue, workflowId: uniqueName('ref'), args: [{ spec: refSpec, runId: runIdOf(refSpec) }] });
  const name = uniqueName('watch');
  // Fires only when asked (its schedule is February 29th's midnight, no hourly firing to race the test's); one rejecting firing flips the verdict (confirmations 1). Under the null a
  // firing rejects with probability alpha (0.005: the F32 firing's false alarm); Q4_0 gave p = 0 (below 1/(b+1)) in every trial run.
  const spec = parseAuditSpec({
    name, corpus: 'console', reference: { kind: 'corpus', corpus: 'console', model, source: 'reference' }, endpoints: [{ kind: 'provider', provider: stand, model }],
    prompts: { set: 'demo', limit: PROMPTS }, samplesPerPrompt: PER_PROMPT, sampling, statistic: 'mmd_hamming', alpha: 0.005, confirmations: 1, b: 400, L: 100, schedule: { cron: '0 0 29 2 *' },
  });
  await createAudit(temporal.client, spec, { taskQueue: cpuQueue });
  const endpoint = `${model}/${stand}`;
  const audit = `[data-audit="${name}"]`;
  const verdictCell = `${audit} tr[data-endpoint="${endpoint}"] td.verdict`;
  const toggle = `#${`toggle-${name}`.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const trigger = `#${`trigger-${name}`.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  try {
    const page = await browser.newPage();
    const t0 = Date.now();
    await page.goto(`${api.url}/`);
    await page.waitFor('the audit on the page', `document.querySelector(${JSON.stringify(verdictCell)})?.textContent === 'no firing yet'`);
    const loadedMs = Date.now() - t0;
    // Page weight and first render as the browser measured them (the resources fetched up to the first render).
    const metrics = await page.evaluate<{ firstRenderMs: number; fcpMs: number | null; files: { name: string; bytes: number }[]; data: { name: string; bytes: number }[] }>(`(() => {
      const first = performance.getEntriesByName('met-first-render')[0];
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource').filter((r) => r.startTime <= first.startTime);
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      const size = (r) => ({ name: new URL(r.name).pathname, bytes: r.transferSize });
      return { firstRenderMs: first.startTime, fcpMs: fcp ? fcp.startTime : null, files: [size(nav), ...res.filter((r) => r.initiatorType !== 'fetch').map(size)], data: res.filter((r) => r.initiatorType === 'fetch').map(size) };
    })()`);
    const fileBytes = metrics.files.reduce((a, f) => a + f.bytes, 0);
    const dataBytes = metrics.data.reduce((a, f) => a + f.bytes, 0);
    t.diagnostic(`first render ${metrics.firstRenderMs.toFixed(0)} ms after navigation (first contentful paint ${metrics.fcpMs?.toFixed(0)} ms; load to audit shown ${loadedMs} ms); page files ${fileBytes} B (${metrics.files.map((f) => `${f.name} ${f.bytes}`).join(', ')}), data ${dataBytes} B`);
    writeFileSync(join(OUT, 'metrics.json'), JSON.stringify({ ...metrics, fileBytes, dataBytes, loadedMs }, null, 2));
    assert.ok(metrics.files.some((f) => f.name === '/console/app.js') && metrics.files.every((f) => f.bytes > 0), JSON.stringify(metrics.files));
    assert.ok(fileBytes < 100_000, `page files weigh ${fileBytes} B`);
    await page.evaluate('window.__sameDocument = 32');

    // Fired from the page (keyboard): F32 behind the endpoint, consistent.
    await page.activate(trigger);
    await page.waitFor('the first firing: consistent', `document.querySelector(${JSON.stringify(verdictCell)})?.textContent === 'consistent'`, 60_000);
    // Paused and resumed from the page: the schedule itself changes.
    await page.activate(toggle);
    await page.waitFor('the paused badge', `document.querySelector(${JSON.stringify(`${audit} h2 .badge`)})?.textContent === 'paused'`);
    assert.equal((await describeAudit(temporal.client, name)).paused, true);
    assert.match((await textOf(page, `${audit} .meta`)) ?? '', /next firing none while paused/);
    assert.equal(await page.evaluate('document.activeElement?.id'), toggle.slice(1), 'the keyboard stays on the button across the redraw');
    await page.activate(toggle);
    await page.waitFor('the active badge', `document.querySelector(${JSON.stringify(`${audit} h2 .badge`)})?.textContent === 'active'`);
    assert.equal((await describeAudit(temporal.client, name)).paused, false);

    // The stand-in now serves Q4_0 under the same name and port; fired again from the page.
    await swapServe(q4);
    await page.activate(trigger);
    await page.waitFor('the verdict to turn to differs', `document.querySelector(${JSON.stringify(verdictCell)})?.textContent === 'differs'`, 60_000);
    assert.equal(await page.evaluate('window.__sameDocument'), 32, 'the page was not reloaded');
    const chart = `${audit} svg.chart`;
    assert.equal(await page.evaluate(`document.querySelectorAll(${JSON.stringify(`${chart} circle`)}).length`), 2);
    assert.equal(await page.evaluate(`document.querySelectorAll(${JSON.stringify(`${chart} g.change`)}).length`), 1, 'the change is marked on the chart');
    const desc = (await textOf(page, `${chart} desc`)) ?? '';
    assert.match(desc, /^2 firings from .*; last p-value (< )?\S+ \(differs\); alpha 0\.005\. Verdict changes: .* to differs/);
    assert.equal(await page.evaluate(`document.querySelector(${JSON.stringify(chart)}).getAttribute('role')`), 'img');
    // Tokens and cost per firing, as the audits table and the provider's prices say.
    const body = await json(await fetch(`${api.url}/v1/audits/${name}`));
    assert.deepEqual(body.firings.map((f: { verdict: string }) => f.verdict), ['consistent', 'differs']);
    for (const f of body.firings) {
      assert.ok(f.promptTokens > 0 && f.completionTokens > 0);
      assert.ok(Math.abs(f.costUsd - (f.promptTokens * PRICES.inputPerMillion + f.completionTokens * PRICES.outputPerMillion) / 1e6) < 1e-12);
    }
    const newest = `${audit} details table tbody tr`;
    assert.match((await textOf(page, newest)) ?? '', new RegExp(`differs changed${body.firings[1].n}${body.firings[1].promptTokens.toLocaleString('en-US')}${body.firings[1].completionTokens.toLocaleString('en-US')}\\$${body.firings[1].costUsd.toFixed(4)}`));
    assert.match((await textOf(page, '#status')) ?? '', new RegExp(`${name} ${endpoint}: consistent → differs`), 'the change is announced to screen readers');
    assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], 'text below 4.5:1 contrast');
    await page.screenshot(join(OUT, 'audits.png'));

    // Runs: a slow collection through the API; its progress moves on the page.
    const collection = await json(await post(`${api.url}/v1/runs`, { corpus: 'console', prompts: { set: 'demo', limit: 8 }, samplesPerPrompt: 12, sampling: { maxTokens: 8 }, unitSize: 3, sources: [{ kind: 'provider', provider: slowProvider, model, concurrency: 1 }] }));
    // And a run that no worker can serve: the fleet view names its queue.
    const nobody = uniqueName('nobody');
    const stuck = await json(await post(`${api.url}/v1/runs`, { corpus: uniqueName('stuck'), prompts: { set: 'demo', limit: 1 }, samplesPerPrompt: 1, sources: [{ kind: 'provider', provider: nobody, model }] }));
    await page.activate('#nav-runs');
    const row = `tr[data-run="${collection.runId}"]`;
    const done = (min: number) => `(() => { const p = document.querySelector(${JSON.stringify(`${row} progress`)}); return p && p.value > ${min} && p.value < p.max ? p.value : 0; })()`;
    const first = await page.waitFor<number>('the collection under way', done(0), 30_000);
    const later = await page.waitFor<number>('the collection to move on', done(first), 30_000);
    t.diagnostic(`collection progress on the page: ${first} then ${later} of ${await page.evaluate(`document.querySelector(${JSON.stringify(`${row} progress`)}).max`)} samples`);
    assert.match((await textOf(page, row)) ?? '', /RUNNING.*\d+\.\d\/s/);
    assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], 'text below 4.5:1 contrast');
    await page.screenshot(join(OUT, 'runs.png'));
    await page.activate(`#${`cancel-${collection.runId}`.replace(/[^A-Za-z0-9_-]/g, '_')}`);
    // A cancelled collection ends CANCELLED, or FAILED with "CancelledFailure" when a unit was in flight (rootCauseFailure turns the
    // activity's cancellation into a failure): the page says what Temporal says, and offers Resume for both.
    const cancelled = await page.waitFor<string>('the run cancelled', `(() => { const t = document.querySelector(${JSON.stringify(row)})?.textContent ?? ''; return /CANCELLED|FAILED.*failed: CancelledFailure/.test(t) ? t : ''; })()`, 30_000);
    t.diagnostic(`after Cancel: ${cancelled.match(/CANCELLED|FAILED/)?.[0]}`);
    await page.activate(`#${`resume-${collection.runId}`.replace(/[^A-Za-z0-9_-]/g, '_')}`);
    await page.waitFor('the resumed run', `/RUNNING|COMPLETED/.test(document.querySelector(${JSON.stringify(`${row} .badge`)})?.textContent ?? '')`, 30_000);

    // Fleet: the test's workers with host, pid, model; the unserved queue flagged with the run that needs it.
    await page.activate('#nav-fleet');
    await page.waitFor('the unserved queue', `document.querySelector('.banner')?.textContent.includes(${JSON.stringify(providerTaskQueue(nobody))})`);
    assert.match((await textOf(page, '.banner')) ?? '', new RegExp(`${providerTaskQueue(nobody)} \\(activity; needed by run ${stuck.runId}\\)`));
    for (const p of plans) {
      const cells = await page.evaluate<string[][]>(`[...document.querySelectorAll(${JSON.stringify(`tr[data-queue="${p.taskQueue}"]`)})].map((tr) => [...tr.children].map((c) => c.textContent))`);
      const mine = cells.find((c) => c[2] === hostname() && c[3] === String(process.pid));
      assert.ok(mine, `${p.taskQueue}: ${JSON.stringify(cells)}`);
      if (p.taskQueue === modelTaskQueue(model, 'fp32')) assert.equal(mine[5], `${model}/fp32`);
      assert.equal(mine[7], dataDir);
    }
    assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], 'text below 4.5:1 contrast');
    await page.screenshot(join(OUT, 'fleet.png'));
    await temporal.client.workflow.getHandle(stuck.workflowId).terminate('test done');
    // The resumed collection ends complete: every sample once.
    const result = (await temporal.client.workflow.getHandle(collection.workflowId).result()) as { rows: number };
    assert.equal(result.rows, 8 * 12);
    assert.deepEqual(page.log.filter((l) => l.startsWith('exception')), [], 'no script errors');
    t.diagnostic(`screenshots and metrics in ${OUT}; ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await deleteAudit(temporal.client, name).catch(() => undefined);
  }
});

test('with a token the console asks for it and shows nothing without it; the routes are in the OpenAPI document; POSTs from another origin are refused', { skip, timeout: 60_000 }, async () => {
  const token = 'console-test-token-0123456789abcdef';
  const locked = await startApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, port: 0, taskQueue: cpuQueue, token });
  let page: Page | undefined;
  try {
    // The page's files load (they hold no data); every route with data answers 401.
    for (const path of ['/', '/console/app.js', '/console/app.css']) assert.equal((await fetch(`${locked.url}${path}`)).status, 200, path);
    for (const path of ['/v1/audits', '/v1/runs', '/v1/fleet', '/v1/audits/x', '/health', '/openapi.json']) assert.equal((await fetch(`${locked.url}${path}`)).status, 401, path);
    assert.equal((await post(`${locked.url}/v1/audits/x/pause`)).status, 401);
    page = await browser.newPage();
    await page.goto(`${locked.url}/#runs`);
    await page.waitFor('the token form', `!document.getElementById('login').hidden && document.activeElement?.id === 'token'`);
    const locks = await page.evaluate<{ text: string; rows: number }>(`({ text: document.body.innerText, rows: document.querySelectorAll('#view tr').length })`);
    assert.equal(locks.rows, 0);
    assert.match(locks.text, /This API needs a token/);
    await page.screenshot(join(OUT, 'token.png'));
    // A wrong token is refused and asked again; the right one opens the console.
    await page.type('wrong-token');
    await page.press('Enter');
    await page.waitFor('the refusal', `document.getElementById('login-error').textContent === 'The token was refused.'`);
    await page.type(token);
    await page.press('Enter');
    await page.waitFor('the runs view', `document.getElementById('login').hidden && document.querySelector('#view h2.view-title')?.textContent === 'Runs'`);
    assert.ok(!(await page.evaluate<string>('document.body.innerText')).includes(token), 'the token is never shown');
    await page.activate('#forget');
    await page.waitFor('the token form again', `!document.getElementById('login').hidden && document.querySelectorAll('#view tr').length === 0`);

    // The console's routes are documented like the rest; its files are not API routes.
    const doc = await json(await fetch(`${locked.url}/openapi.json`, { headers: { authorization: `Bearer ${token}` } }));
    for (const [path, method] of [['/v1/audits', 'get'], ['/v1/audits/{name}', 'get'], ['/v1/audits/{name}/pause', 'post'], ['/v1/audits/{name}/resume', 'post'], ['/v1/audits/{name}/trigger', 'post'], ['/v1/runs', 'get'], ['/v1/runs/{id}/cancel', 'post'], ['/v1/runs/{id}/resume', 'post'], ['/v1/fleet', 'get']]) {
      assert.ok(doc.paths[path]?.[method], `${method} ${path} documented`);
    }
    assert.equal(doc.paths['/'], undefined);
    // A page elsewhere cannot make a browser act on a loopback API: a foreign Origin on a POST is a 403, with or without the token.
    const foreign = await locked.app.inject({ method: 'POST', url: '/v1/audits/x/pause', headers: { origin: 'http://evil.example', authorization: `Bearer ${token}`, host: new URL(locked.url).host } });
    assert.equal(foreign.statusCode, 403, foreign.body);
    assert.match(foreign.json().message, /^origin: /);
    assert.equal((await api.app.inject({ method: 'POST', url: '/v1/runs/x/cancel', headers: { origin: 'http://127.0.0.1.evil.example', host: new URL(api.url).host } })).statusCode, 403);
    // The page's files obey the loopback API's Host rule like every route (DNS rebinding).
    assert.equal((await api.app.inject({ method: 'GET', url: '/', headers: { host: 'evil.example:8080' } })).statusCode, 403);
    assert.equal((await api.app.inject({ method: 'GET', url: '/console/app.js', headers: { host: 'evil.example' } })).statusCode, 403);
    // The page itself: no inline script, its own files only.
    const csp = (await fetch(`${locked.url}/`)).headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'; script-src 'self'/);
  } finally {
    // The tab goes first: its keep-alive connections would otherwise hold the server's close.
    await page?.close();
    await locked.close();
  }
});

test('the runs view\'s arithmetic: a collection\'s own rate and ETA, done over time for other jobs, a report link once a grid completes', () => {
  const now = Date.parse('2026-12-01T10:00:00Z');
  const collection = collectionRecord('c1', 'c');
  const progress = { sources: [
    { model: 'm', source: 'a', taskQueue: 'q', done: 30, total: 100, errors: {}, samplesPerSecond: 2, etaSeconds: 35 },
    { model: 'm', source: 'b', taskQueue: 'q', done: 50, total: 100, errors: {}, samplesPerSecond: 1, etaSeconds: 50 },
  ] };
  const c = runSummary(collection, { record: collection, status: 'RUNNING', startTime: new Date(now - 60_000), progress, warnings: [] }, now);
  assert.deepEqual([c.done, c.total, c.unit, c.ratePerSecond, c.etaSeconds, c.reportUrl], [80, 200, 'samples', 3, 50, null]);
  const grid = powerRecord('g1');
  const stages = { stages: [{ name: 'cells', done: 40, total: 100 }] };
  const g = runSummary(grid, { record: grid, status: 'RUNNING', startTime: new Date(now - 20_000), progress: stages, warnings: [] }, now);
  assert.deepEqual([g.ratePerSecond, g.etaSeconds], [2, 30]);
  const finished = runSummary(grid, { record: grid, status: 'COMPLETED', startTime: new Date(now - 20_000), closeTime: new Date(now), warnings: [] }, now);
  assert.deepEqual([finished.ratePerSecond, finished.etaSeconds, finished.reportUrl], [null, null, '/v1/runs/g1/report']);
  const failed = runSummary(collection, { record: collection, status: 'FAILED', failure: 'MetForbidden: no', warnings: [] }, now);
  assert.deepEqual([failed.failure, failed.reportUrl, failed.total], ['MetForbidden: no', null, 0]);
});
