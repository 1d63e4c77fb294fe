import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { freePort } from '../../temporal/devServer';
import { exited, spawnMet, waitUntil } from '../helpers/processes';

/**
 * `met up --api` as a user runs it (issue #32): one command starts the embedded Temporal server on
 * its own port, the local CPU worker and the HTTP API, whose console answers at `/` with live data
 * from that server; Ctrl-C stops all three. TEMPORAL_ADDRESS and MET_TEMPORAL_PORT are cleared so
 * nothing else is found.
 */
const dir = mkdtempSync(join(tmpdir(), 'met-up-api-'));
const clean = { TEMPORAL_ADDRESS: undefined, MET_TEMPORAL_PORT: undefined, MET_DATA: undefined };
const stops: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

const json = async (r: Response): Promise<any> => r.json();

test('met up --api PORT: the embedded server, the CPU worker and the API; the console at / and its data routes answer; Ctrl-C stops them', async () => {
  const [port, apiPort] = [await freePort(), await freePort()];
  const t0 = performance.now();
  const up = spawnMet(['up', '--port', String(port), '--headless', '--api', String(apiPort), '--data', dir], clean);
  stops.push(async () => (up.kill('SIGINT'), exited(up)));
  await waitUntil(
    'met up with its API and worker',
    () => {
      if (up.exitCode !== null) throw new Error(`met up exited ${up.exitCode}: ${up.output()}`);
      return /HTTP API on http:\/\/\S+/.test(up.output()) && /worker polling met-cpu/.test(up.output());
    },
    90_000,
  );
  const url = /HTTP API on (http:\/\/\S+) \(console: /.exec(up.output())![1];
  assert.equal(url, `http://127.0.0.1:${apiPort}`);
  const ready = performance.now() - t0;

  // The console: its page and files, under the page's policy.
  const page = await fetch(`${url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.match(await page.text(), /<title>met console<\/title>.*<script src="\/console\/app\.js" defer><\/script>/s);
  for (const file of ['app.js', 'app.css']) assert.equal((await fetch(`${url}/console/${file}`)).status, 200, file);
  // Its data, live from the server met up started: the worker met up runs polls met-cpu.
  const health = await json(await fetch(`${url}/health`));
  assert.equal(health.temporal.address, `127.0.0.1:${port}`);
  assert.equal(health.ok, true, JSON.stringify(health));
  const fleet = await json(await fetch(`${url}/v1/fleet`));
  const cpu = fleet.queues.find((q: { queue: string; kind: string }) => q.queue === 'met-cpu' && q.kind === 'workflow');
  assert.ok(
    cpu?.pollers.some((p: { pid?: number }) => p.pid === up.pid),
    JSON.stringify(fleet),
  );
  assert.deepEqual(await json(await fetch(`${url}/v1/runs`)), { runs: [] });
  assert.deepEqual(await json(await fetch(`${url}/v1/audits`)), { audits: [] });

  up.kill('SIGINT');
  assert.equal(await exited(up), 0, up.output());
  assert.match(up.output(), /Temporal server stopped/);
  await assert.rejects(fetch(`${url}/`), 'the API stopped with met up');
  console.log(`met up --api ready (server, worker, API) in ${(ready / 1000).toFixed(1)} s`);
});
