/**
 * Issue #32's must-show: the web console at `/` of `met api`, driven in Debian's headless Chromium
 * over the DevTools protocol (test/helpers/browser.ts). An audit of a `met serve` stand-in is fired
 * and paused from the page (keyboard: focus and Enter); the stand-in then serves Q4_0 instead of
 * F32, and the page shows the verdict turn to differs without a reload. A slow collection's
 * progress moves on the runs view, and is cancelled and resumed from it; the fleet view lists the
 * test's workers and a queue that has work but no worker. The audit's chart is met's report figure,
 * drawn by the API. `met api --token-env NAME` (the real CLI): the page asks for the token and no
 * data is readable without it. Screenshots of every view go to the test output folder
 * ($MET_TEST_OUTPUT or <tmp>/met-test-output, never the repository), with page weight and first
 * render time (metrics.json).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { runSummary } from '../../api/console';
import { startApi } from '../../api/server';
import { collectionRecord, powerRecord } from '../helpers/records';
import { createAudit, deleteAudit, describeAudit } from '../../client/audits';
import { parseAuditSpec, planFiring, planIdentify } from '../../config/auditSpec';
import { identifyResult } from '../../config/identifySpec';
import { createAuditActivities } from '../../activities/audits';
import { MockActivityEnvironment } from '@temporalio/testing';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { startServe, type RunningServe } from '../../serve/server';
import { legacyModelTaskQueue, modelTaskQueue, providerTaskQueue } from '../../temporal/queues';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { providerWorkerPlans } from '../../workers/provider';
import { planIdentity, type WorkerPlan } from '../../workers/run';
import { findChromium } from '../../report/screenshot';
import { REJECT_COLOR, seriesColor } from '../../report/palette';
import { Browser, type Page } from '../helpers/browser';
import { useTestEnv } from '../helpers/env';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { collectRun } from '../helpers/audit';

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
/** The audit the first test fires twice; the token test shows its chart when that test passed. */
const watched = uniqueName('watch');
let fired = false;
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
    const workers = await Promise.all(
      plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, identity: planIdentity(p, dataDir), ...p.options })),
    );
    const running = workers.map((w) => w.run());
    stopWorkers = async () => {
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
    };
    // As met up --api does: the model queue is a health queue, so the fleet view lists it before any run needs it.
    api = await startApi({
      client: temporal.client,
      dataDir,
      address: temporal.address,
      namespace: temporal.namespace,
      port: 0,
      taskQueue: cpuQueue,
      healthQueues: [modelTaskQueue(model, 'fp32')],
      prices: { [stand]: PRICES },
    });
    if (!skip) browser = await Browser.launch();
    mkdirSync(OUT, { recursive: true });
  },
  beforeClose: async () => {
    await deleteAudit(temporal.client, watched).catch(() => undefined);
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
const post = (url: string, body?: unknown) =>
  fetch(url, { method: 'POST', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });

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

test(
  'the console in Chromium: an audit fired and paused from the page flips consistent -> differs without a reload; a collection moves, is cancelled and resumed; the fleet lists the workers',
  { skip, timeout: 150_000 },
  async (t) => {
    const started = Date.now();
    // The reference: a stored slice from the local F32 model.
    await collectRun(temporal, cpuQueue, {
      corpus: 'console',
      prompts: { set: 'demo', limit: PROMPTS },
      samplesPerPrompt: PER_PROMPT,
      sampling,
      sources: [{ kind: 'local', model, precision: 'fp32', source: 'reference' }],
    });
    const name = watched;
    // Fires only when asked (its schedule is February 29th's midnight, no hourly firing to race the test's); one rejecting firing flips the verdict (confirmations 1). Under the null a
    // firing rejects with probability alpha (0.005: the F32 firing's false alarm); Q4_0 gave p = 0 (below 1/(b+1)) in every trial run.
    const spec = parseAuditSpec({
      name,
      corpus: 'console',
      reference: { kind: 'corpus', corpus: 'console', model, source: 'reference' },
      endpoints: [{ kind: 'provider', provider: stand, model }],
      prompts: { set: 'demo', limit: PROMPTS },
      samplesPerPrompt: PER_PROMPT,
      sampling,
      statistic: 'mmd_hamming',
      alpha: 0.005,
      confirmations: 1,
      b: 400,
      L: 100,
      schedule: { cron: '0 0 29 2 *' },
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
      const metrics = await page.evaluate<{
        firstRenderMs: number;
        fcpMs: number | null;
        files: { name: string; bytes: number }[];
        data: { name: string; bytes: number }[];
      }>(`(() => {
      const first = performance.getEntriesByName('met-first-render')[0];
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource').filter((r) => r.startTime <= first.startTime);
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      const size = (r) => ({ name: new URL(r.name).pathname, bytes: r.transferSize });
      return { firstRenderMs: first.startTime, fcpMs: fcp ? fcp.startTime : null, files: [size(nav), ...res.filter((r) => r.initiatorType !== 'fetch').map(size)], data: res.filter((r) => r.initiatorType === 'fetch').map(size) };
    })()`);
      const fileBytes = metrics.files.reduce((a, f) => a + f.bytes, 0);
      const dataBytes = metrics.data.reduce((a, f) => a + f.bytes, 0);
      t.diagnostic(
        `first render ${metrics.firstRenderMs.toFixed(0)} ms after navigation (first contentful paint ${metrics.fcpMs?.toFixed(0)} ms; load to audit shown ${loadedMs} ms); page files ${fileBytes} B (${metrics.files.map((f) => `${f.name} ${f.bytes}`).join(', ')}), data ${dataBytes} B`,
      );
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
      // The chart is met's audit figure (report/chartSpecs.ts auditHistorySpec, drawn by Vega on the API), inlined: two firings in the
      // p-value panel in the endpoint's own colour (report/palette.ts), the change as a dashed red rule in both panels.
      const chart = `${audit} svg.chart`;
      const pointFills = await page.evaluate<string[]>(
        `[...document.querySelectorAll(${JSON.stringify(`${chart} g.mark-symbol.role-mark`)})[0].querySelectorAll('path')].map((p) => p.getAttribute('fill'))`,
      );
      assert.deepEqual(pointFills, [seriesColor(endpoint), seriesColor(endpoint)]);
      assert.equal(
        await page.evaluate(`document.querySelectorAll(${JSON.stringify(`${chart} g.mark-rule.role-mark line[stroke="${REJECT_COLOR}"]`)}).length`),
        2,
        'the change is marked on the chart',
      );
      assert.equal(await page.evaluate(`document.querySelectorAll(${JSON.stringify(`${chart} script, ${chart} foreignObject`)}).length`), 0);
      // The chart on its own: SVG under a policy that lets nothing in it load or run; its weight and time to render on the API.
      const c0 = performance.now();
      const chartRes = await fetch(`${api.url}/v1/audits/${name}/chart?endpoint=${encodeURIComponent(endpoint)}`);
      const chartSvg = await chartRes.text();
      const chartMs = performance.now() - c0;
      assert.equal(chartRes.status, 200, chartSvg);
      assert.equal(chartRes.headers.get('content-type'), 'image/svg+xml; charset=utf-8');
      assert.equal(chartRes.headers.get('content-security-policy'), "default-src 'none'");
      assert.match(chartSvg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      assert.equal((await fetch(`${api.url}/v1/audits/${name}/chart?endpoint=nobody/none`)).status, 404);
      assert.equal((await fetch(`${api.url}/v1/audits/${uniqueName('none')}/chart`)).status, 404);
      assert.equal((await fetch(`${api.url}/v1/audits/..%2Fetc/chart`)).status, 400);
      t.diagnostic(`chart: ${chartSvg.length} B of SVG, drawn and served by the API in ${chartMs.toFixed(0)} ms`);
      // First render of the view with its chart in a new tab: the page, the audits' JSON and the chart the API draws.
      const fresh = await browser.newPage();
      let withChart: { firstRenderMs: number; resources: { name: string; bytes: number }[] };
      try {
        await fresh.goto(`${api.url}/`);
        await fresh.waitFor('the chart in a new tab', `document.querySelector(${JSON.stringify(chart)}) !== null`);
        withChart = await fresh.evaluate(`(() => {
        const first = performance.getEntriesByName('met-first-render')[0];
        const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource').filter((r) => r.startTime <= first.startTime);
        return { firstRenderMs: first.startTime, resources: [nav, ...res].map((r) => ({ name: new URL(r.name).pathname, bytes: r.transferSize })) };
      })()`);
      } finally {
        await fresh.close();
      }
      const withChartBytes = withChart.resources.reduce((a, r) => a + r.bytes, 0);
      assert.ok(
        withChart.resources.some((r) => r.name.endsWith('/chart')),
        JSON.stringify(withChart.resources),
      );
      t.diagnostic(
        `first render with the chart, new tab: ${withChart.firstRenderMs.toFixed(0)} ms after navigation, ${withChartBytes} B in all (${withChart.resources.map((r) => `${r.name} ${r.bytes}`).join(', ')})`,
      );
      writeFileSync(
        join(OUT, 'metrics.json'),
        JSON.stringify(
          { ...metrics, fileBytes, dataBytes, loadedMs, chartBytes: chartSvg.length, chartMs, withChart: { ...withChart, bytes: withChartBytes } },
          null,
          2,
        ),
      );
      // The page's second fence, should the API ever send markup: an SVG with a script, a handler, a link and HTML inlines without them.
      const fenced = await page.evaluate<{ html: string; ran: unknown }>(`(() => {
      const n = inlineSvg('<svg xmlns="http://www.w3.org/2000/svg"><script>window.__ran = 1</script><g onload="window.__ran = 2"><text>x</text></g><a href="javascript:window.__ran = 3"><text>y</text></a><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">z</div></foreignObject></svg>');
      document.body.append(n);
      const html = n.outerHTML;
      n.remove();
      return { html, ran: window.__ran ?? null };
    })()`);
      assert.equal(fenced.ran, null);
      assert.doesNotMatch(fenced.html, /script|onload|href|foreignObject|<a\b/);
      assert.match(fenced.html, /<text>x<\/text>/);
      const desc = (await textOf(page, `${chart} desc`)) ?? '';
      assert.match(desc, /^2 firings from .*; last p-value (< )?\S+ \(differs\); alpha 0\.005\. Verdict changes: .* to differs/);
      assert.equal(await page.evaluate(`document.querySelector(${JSON.stringify(chart)}).getAttribute('role')`), 'img');
      // Tokens and cost per firing, as the audits table and the provider's prices say.
      const body = await json(await fetch(`${api.url}/v1/audits/${name}`));
      assert.deepEqual(
        body.firings.map((f: { verdict: string }) => f.verdict),
        ['consistent', 'differs'],
      );
      for (const f of body.firings) {
        assert.ok(f.promptTokens > 0 && f.completionTokens > 0 && f.requests > 0);
        assert.ok(Math.abs(f.costUsd - (f.promptTokens * PRICES.inputPerMillion + f.completionTokens * PRICES.outputPerMillion) / 1e6) < 1e-12);
      }
      const newest = `${audit} details table tbody tr`;
      assert.match(
        (await textOf(page, newest)) ?? '',
        new RegExp(
          `differs changed${body.firings[1].n}${body.firings[1].requests.toLocaleString('en-US')}${body.firings[1].promptTokens.toLocaleString('en-US')}${body.firings[1].completionTokens.toLocaleString('en-US')}\\$${body.firings[1].costUsd.toFixed(4)}`,
        ),
      );
      assert.match((await textOf(page, '#status')) ?? '', new RegExp(`${name} ${endpoint}: consistent → differs`), 'the change is announced to screen readers');
      assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], 'text below 4.5:1 contrast');
      await page.screenshot(join(OUT, 'audits.png'));

      // Runs: a slow collection through the API; its progress moves on the page.
      const collection = await json(
        await post(`${api.url}/v1/runs`, {
          corpus: 'console',
          prompts: { set: 'demo', limit: 8 },
          samplesPerPrompt: 12,
          sampling: { maxTokens: 8 },
          unitSize: 3,
          sources: [{ kind: 'provider', provider: slowProvider, model, concurrency: 1 }],
        }),
      );
      // And a run that no worker can serve: the fleet view names its queue.
      const nobody = uniqueName('nobody');
      const stuck = await json(
        await post(`${api.url}/v1/runs`, {
          corpus: uniqueName('stuck'),
          prompts: { set: 'demo', limit: 1 },
          samplesPerPrompt: 1,
          sources: [{ kind: 'provider', provider: nobody, model }],
        }),
      );
      await page.activate('#nav-runs');
      const row = `tr[data-run="${collection.runId}"]`;
      const done = (min: number) =>
        `(() => { const p = document.querySelector(${JSON.stringify(`${row} progress`)}); return p && p.value > ${min} && p.value < p.max ? p.value : 0; })()`;
      const first = await page.waitFor<number>('the collection under way', done(0), 30_000);
      const later = await page.waitFor<number>('the collection to move on', done(first), 30_000);
      t.diagnostic(
        `collection progress on the page: ${first} then ${later} of ${await page.evaluate(`document.querySelector(${JSON.stringify(`${row} progress`)}).max`)} samples`,
      );
      assert.match((await textOf(page, row)) ?? '', /RUNNING.*\d+\.\d\/s/);
      assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], 'text below 4.5:1 contrast');
      await page.screenshot(join(OUT, 'runs.png'));
      await page.activate(`#${`cancel-${collection.runId}`.replace(/[^A-Za-z0-9_-]/g, '_')}`);
      // A cancelled collection ends CANCELLED, or FAILED with "CancelledFailure" when a unit was in flight (rootCauseFailure turns the
      // activity's cancellation into a failure): the page says what Temporal says, and offers Resume for both.
      const cancelled = await page.waitFor<string>(
        'the run cancelled',
        `(() => { const t = document.querySelector(${JSON.stringify(row)})?.textContent ?? ''; return /CANCELLED|FAILED.*failed: CancelledFailure/.test(t) ? t : ''; })()`,
        30_000,
      );
      t.diagnostic(`after Cancel: ${cancelled.match(/CANCELLED|FAILED/)?.[0]}`);
      await page.activate(`#${`resume-${collection.runId}`.replace(/[^A-Za-z0-9_-]/g, '_')}`);
      await page.waitFor('the resumed run', `/RUNNING|COMPLETED/.test(document.querySelector(${JSON.stringify(`${row} .badge`)})?.textContent ?? '')`, 30_000);

      // Fleet: the test's workers with host, pid, model; the unserved queue flagged with the run that needs it.
      await page.activate('#nav-fleet');
      await page.waitFor('the unserved queue', `document.querySelector('.banner')?.textContent.includes(${JSON.stringify(providerTaskQueue(nobody))})`);
      assert.match((await textOf(page, '.banner')) ?? '', new RegExp(`${providerTaskQueue(nobody)} \\(activity; needed by run ${stuck.runId}\\)`));
      // (The old model-queue name that model workers also poll is not one the fleet knows of: no run names it.)
      for (const p of plans.filter((x) => x.taskQueue !== legacyModelTaskQueue(model, 'fp32'))) {
        const cells = await page.evaluate<string[][]>(
          `[...document.querySelectorAll(${JSON.stringify(`tr[data-queue="${p.taskQueue}"]`)})].map((tr) => [...tr.children].map((c) => c.textContent))`,
        );
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
      assert.deepEqual(
        page.log.filter((l) => l.startsWith('exception')),
        [],
        'no script errors',
      );
      t.diagnostic(`screenshots and metrics in ${OUT}; ${((Date.now() - started) / 1000).toFixed(1)} s`);
      fired = true;
    } finally {
      // Kept for the next test while it passed (its chart behind the token); removed with the environment.
      if (!fired) await deleteAudit(temporal.client, name).catch(() => undefined);
    }
  },
);

test(
  'met api --token-env NAME: the console asks for the token, no data route answers without it, and the token typed into the page opens every view; the routes are in the OpenAPI document; POSTs from another origin are refused',
  { skip, timeout: 90_000 },
  async () => {
    // The real CLI, the token only in its environment (never on the command line), on the test's Temporal.
    const token = randomBytes(24).toString('hex');
    const env = {
      MET_CONSOLE_TOKEN: token,
      MET_DATA: dataDir,
      MET_TEMPORAL_PORT: temporal.address.split(':').pop()!,
      TEMPORAL_ADDRESS: '',
      TEMPORAL_NAMESPACE: temporal.namespace,
    };
    const child = spawnMet(['api', '--port', '0', '--queue', cpuQueue, '--token-env', 'MET_CONSOLE_TOKEN'], env);
    let page: Page | undefined;
    try {
      let url = '';
      await waitUntil(
        'met api to listen',
        () => {
          if (child.exitCode !== null) throw new Error(`met api exited ${child.exitCode}: ${child.output()}`);
          url = /met API on (http:\/\/\S+)/.exec(child.output())?.[1] ?? '';
          return url !== '';
        },
        60_000,
      );
      assert.match(child.output(), /bearer token required/);
      // The page's files load (they hold no data); every route with data answers 401, the chart's SVG too.
      for (const path of ['/', '/console/app.js', '/console/app.css']) assert.equal((await fetch(`${url}${path}`)).status, 200, path);
      for (const path of [
        '/v1/audits',
        '/v1/runs',
        '/v1/fleet',
        '/v1/audits/x',
        '/v1/audits/x/chart',
        '/v1/audits/x/chart?endpoint=m/s',
        '/v1/runs/x',
        '/v1/runs/x/report',
        '/health',
        '/openapi.json',
        '/docs/json',
      ]) {
        const r = await fetch(`${url}${path}`);
        assert.equal(r.status, 401, path);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      }
      for (const path of ['/v1/audits/x/pause', '/v1/runs/x/cancel', '/v1/runs']) assert.equal((await post(`${url}${path}`)).status, 401, path);

      page = await browser.newPage();
      await page.goto(`${url}/#runs`);
      await page.waitFor('the token form', `!document.getElementById('login').hidden && document.activeElement?.id === 'token'`);
      const locks = await page.evaluate<{ text: string; rows: number }>(
        `({ text: document.body.innerText, rows: document.querySelectorAll('#view tr').length })`,
      );
      assert.equal(locks.rows, 0);
      assert.match(locks.text, /This API needs a token/);
      await page.screenshot(join(OUT, 'token.png'));
      // A wrong token is refused and asked again; the right one, typed into the form, opens the console.
      await page.type('wrong-token-0123456789');
      await page.press('Enter');
      await page.waitFor('the refusal', `document.getElementById('login-error').textContent === 'The token was refused.'`);
      await page.type(token);
      await page.press('Enter');
      await page.waitFor('the runs view', `document.getElementById('login').hidden && document.querySelector('#view h2.view-title')?.textContent === 'Runs'`);
      await page.activate('#nav-fleet');
      // The fleet view lists the test's CPU worker, which this API's --queue names.
      await page.waitFor('the fleet view', `document.querySelector(${JSON.stringify(`#fleet-table tr[data-queue="${cpuQueue}"]`)}) !== null`);
      await page.activate('#nav-audits');
      await page.waitFor(
        'the audits view',
        `document.querySelector('#view h2.view-title')?.textContent === 'Audits' && document.getElementById('login').hidden`,
      );
      // The chart comes through the token like the JSON does: the first test's audit, drawn.
      if (fired)
        await page.waitFor(
          "the audit's chart behind the token",
          `document.querySelector(${JSON.stringify(`[data-audit="${watched}"] svg.chart[role="img"]`)}) !== null`,
        );
      assert.ok(!(await page.evaluate<string>('document.documentElement.outerHTML')).includes(token), 'the token is never shown');
      assert.ok(!child.output().includes(token), 'nor printed');
      await page.activate('#forget');
      await page.waitFor('the token form again', `!document.getElementById('login').hidden && document.querySelectorAll('#view tr').length === 0`);
      assert.deepEqual(
        page.log.filter((l) => l.startsWith('exception')),
        [],
        'no script errors',
      );

      // The console's routes are documented like the rest; its files are not API routes.
      const auth = { authorization: `Bearer ${token}` };
      const doc = await json(await fetch(`${url}/openapi.json`, { headers: auth }));
      for (const [path, method] of [
        ['/v1/audits', 'get'],
        ['/v1/audits/{name}', 'get'],
        ['/v1/audits/{name}/chart', 'get'],
        ['/v1/audits/{name}/pause', 'post'],
        ['/v1/audits/{name}/resume', 'post'],
        ['/v1/audits/{name}/trigger', 'post'],
        ['/v1/runs', 'get'],
        ['/v1/runs/{id}/cancel', 'post'],
        ['/v1/runs/{id}/resume', 'post'],
        ['/v1/fleet', 'get'],
      ]) {
        assert.ok(doc.paths[path]?.[method], `${method} ${path} documented`);
      }
      assert.ok(doc.paths['/v1/audits/{name}/chart'].get.parameters.some((p: { name: string; in: string }) => p.name === 'endpoint' && p.in === 'query'));
      assert.equal(doc.paths['/'], undefined);
      // A page elsewhere cannot make a browser act on the API: a foreign Origin on a POST is a 403, token or not.
      const foreign = await fetch(`${url}/v1/audits/x/pause`, { method: 'POST', headers: { ...auth, origin: 'http://evil.example' } });
      assert.equal(foreign.status, 403);
      assert.match(((await foreign.json()) as { message: string }).message, /^origin: /);
      // No CORS: no Access-Control-Allow-Origin on any answer, preflight included.
      const preflight = await fetch(`${url}/v1/audits`, {
        method: 'OPTIONS',
        headers: { origin: 'http://evil.example', 'access-control-request-method': 'GET' },
      });
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
      assert.equal((await fetch(`${url}/v1/audits`, { headers: { ...auth, origin: 'http://evil.example' } })).headers.get('access-control-allow-origin'), null);
      assert.equal(
        (await api.app.inject({ method: 'POST', url: '/v1/runs/x/cancel', headers: { origin: 'http://127.0.0.1.evil.example', host: new URL(api.url).host } }))
          .statusCode,
        403,
      );
      // The page's files and the charts obey the loopback API's Host rule like every route (DNS rebinding).
      for (const path of ['/', '/console/app.js', '/v1/audits/x/chart'])
        assert.equal((await api.app.inject({ method: 'GET', url: path, headers: { host: 'evil.example:8080' } })).statusCode, 403, path);
      // The page itself: no inline script, its own files only.
      const csp = (await fetch(`${url}/`)).headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'; script-src 'self'/);
    } finally {
      // The tab goes first: its keep-alive connections would otherwise hold the server's close.
      await page?.close();
      child.kill('SIGTERM');
      await exited(child);
    }
  },
);

test("the runs view's arithmetic: a collection's own rate and ETA, done over time for other jobs, a report link once a grid completes", () => {
  const now = Date.parse('2026-12-01T10:00:00Z');
  const collection = collectionRecord('c1', 'c');
  const progress = {
    sources: [
      { model: 'm', source: 'a', taskQueue: 'q', done: 30, total: 100, errors: {}, samplesPerSecond: 2, etaSeconds: 35 },
      { model: 'm', source: 'b', taskQueue: 'q', done: 50, total: 100, errors: {}, samplesPerSecond: 1, etaSeconds: 50 },
    ],
  };
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

test(
  "identify in the console: at the firing that turned an endpoint's verdict to differs, the candidates not rejected and rejected (Holm-adjusted p), or why identify failed, as the API gives them",
  { skip, timeout: 60_000 },
  async () => {
    const name = uniqueName('ident');
    const corpus = 'console-identify';
    const other = uniqueName('other');
    const spec = parseAuditSpec({
      name,
      corpus,
      reference: { kind: 'corpus', corpus, model, source: 'reference' },
      endpoints: [
        { kind: 'provider', provider: stand, model },
        { kind: 'provider', provider: other, model },
      ],
      prompts: { set: 'demo', limit: PROMPTS },
      samplesPerPrompt: PER_PROMPT,
      statistic: 'mmd_hamming',
      alpha: 0.01,
      confirmations: 1,
      b: 500,
      identify: {
        candidates: [
          { model, source: 'cand-f32' },
          { model, source: 'cand-q4' },
        ],
      },
      schedule: { cron: '0 0 29 2 *' },
    });
    await createAudit(temporal.client, spec, { taskQueue: cpuQueue, paused: true });
    // Two firings recorded by the firing's own activity (recordAuditFiring): the first consistent, the second differs on both
    // endpoints, with the identify each got there: the candidates' outcomes Holm-corrected by identifyResult, as a firing does,
    // and, for the second endpoint, a candidate's test that failed.
    const { recordAuditFiring } = createAuditActivities({ duck, dataDir });
    const env = new MockActivityEnvironment();
    const outcome = (testId: string, pvalue: number) => ({
      testId,
      statistic: 'mmd_hamming',
      value: pvalue === 0 ? 0.4 : 0.01,
      pvalue,
      reject: pvalue <= 0.01,
      alpha: 0.01,
      b: 500,
      undefinedNulls: 0,
      n1: 160,
      n2: 160,
      m: PROMPTS,
      seconds: 1,
    });
    const at = [Date.UTC(2026, 11, 6, 18, 0, 0), Date.UTC(2026, 11, 6, 19, 0, 0)];
    const firings = at.map((timeMs, f) => planFiring(spec, `20261206T${18 + f}0000Z-0000000${f}`));
    for (const [f, plan] of firings.entries()) {
      const results = plan.tests.map((t, e) => {
        const differs = f === 1;
        const planned = planIdentify(spec, t.test)!;
        const identify =
          differs && e === 0
            ? identifyResult(planned.spec, [outcome(planned.tests[0].testId, 0), outcome(planned.tests[1].testId, 0.868)])
            : differs
              ? {
                  y: `${corpus}:${t.model}/${t.source}`,
                  stat: 'mmd_hamming',
                  alpha: 0.01,
                  correction: 'holm' as const,
                  candidates: [],
                  notRejected: [],
                  error: `the test of 1 of 2 candidates failed: ${model}/cand-q4: corpus '${corpus}' has no samples for models ${model}`,
                }
              : undefined;
        return {
          endpoint: t.endpoint,
          model: t.model,
          source: t.source,
          reference: `${corpus}:${model}/reference`,
          outcome: outcome(t.test.testId, differs ? 0 : 0.5),
          ...(identify ? { identify } : {}),
        };
      });
      await env.run(recordAuditFiring, { corpus, audit: name, firingId: plan.firingId, timeMs: at[f], confirmations: 1, results });
    }
    const page = await browser.newPage();
    try {
      await page.goto(`${api.url}/`);
      const audit = `[data-audit="${name}"]`;
      const table = (endpoint: string) => `${audit} table.identify[data-identify="${endpoint}"]`;
      const [standEndpoint, otherEndpoint] = [`${model}/${stand}`, `${model}/${other}`];
      await page.waitFor('the identify tables', `document.querySelectorAll(${JSON.stringify(`${audit} table.identify`)}).length === 2`);
      // The API's state of the second firing: the page shows the same.
      const body = await json(await fetch(`${api.url}/v1/audits/${name}`));
      const flip = body.firings.filter((f: { firingId: string }) => f.firingId === firings[1].firingId);
      assert.deepEqual(
        new Map(flip.map((f: { endpoint: string; identify: { notRejected: string[] } | null }) => [f.endpoint, f.identify?.notRejected])),
        new Map([
          [standEndpoint, [`${model}/cand-q4`]],
          [otherEndpoint, []],
        ]),
      );
      const rows = (endpoint: string) =>
        page.evaluate<string[][]>(
          `[...document.querySelectorAll(${JSON.stringify(`${table(endpoint)} tbody tr`)})].map((tr) => [...tr.cells].map((td) => td.textContent))`,
        );
      // Only the firing that ran identify has a row; the first firing (consistent) has none.
      assert.deepEqual(await rows(standEndpoint), [['2026-12-06 19:00:00Z', `${model}/cand-q4: p = 0.868`, `${model}/cand-f32: p < 0.002`]]);
      assert.deepEqual(await rows(otherEndpoint), [
        [
          '2026-12-06 19:00:00Z',
          `identify failed: the test of 1 of 2 candidates failed: ${model}/cand-q4: corpus '${corpus}' has no samples for models ${model}`,
        ],
      ]);
      assert.match(
        (await textOf(page, `${table(standEndpoint)} caption`)) ?? '',
        new RegExp(`^Which model, where the verdict of ${standEndpoint} turned to differs: .*mmd_hamming, Holm-adjusted p-values at α = 0\\.01$`),
      );
      assert.deepEqual(await page.evaluate(LOW_CONTRAST), [], 'text below AA contrast');
      await page.screenshot(join(OUT, 'identify.png'));
      assert.deepEqual(
        page.log.filter((l) => l.startsWith('exception')),
        [],
        'no script errors',
      );
    } finally {
      await page.close();
      await deleteAudit(temporal.client, name).catch(() => undefined);
    }
  },
);
