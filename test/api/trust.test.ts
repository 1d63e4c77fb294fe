import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApi, startApi } from '../../api/server';
import { loadRunRecord } from '../../client/runs';
import { exited, spawnMet } from '../helpers/processes';
import { createDuckDB } from '../../datasets/duck';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { waitUntil } from '../helpers/processes';
import { startTestTemporal, uniqueName, type TestTemporal } from '../helpers/temporal';

/**
 * The HTTP API's trust boundaries: ids are names, never paths (no traversal, no absolute paths or
 * file bytes in errors), prompts come by set name (never a worker path), a loopback API answers
 * only requests addressed to loopback (DNS rebinding), and the bearer scheme is case-insensitive.
 */
let temporal: TestTemporal;
let app: FastifyInstance;
const root = mkdtempSync(join(tmpdir(), 'met-api-trust-'));
const dataDir = join(root, 'data');
const SECRET = 'TOP-SECRET-BYTES-0123456789';

before(async () => {
  temporal = await startTestTemporal();
  mkdirSync(join(dataDir, 'runs'), { recursive: true });
  // Things outside the runs folder that a traversal would reach: a record-shaped JSON and a secret.
  writeFileSync(
    join(root, 'outside.json'),
    JSON.stringify({ runId: 'outside', job: 'runTest', workflowId: 'runTest/outside', taskQueue: 'q', input: { secret: SECRET }, createdAt: '2020-01-01' }),
  );
  writeFileSync(join(root, 'secret.json'), `${SECRET}\n`);
  writeFileSync(join(dataDir, 'runs', 'garbled.json'), `not json ${SECRET}`);
  app = await buildApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace });
});
after(async () => {
  await app?.close();
  await temporal?.close();
  rmSync(root, { recursive: true, force: true });
});

const get = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'GET', url, headers });

test('GET /v1/runs/:id and /report refuse ids that are not names, and never show paths or file bytes', async () => {
  const ids = ['..%2F..%2Foutside', '..%2Fsecret', '..%2F..%2Fsecret', '%2Fetc%2Fpasswd', '.hidden', 'a%00b', 'x'.repeat(201)];
  for (const id of ids) {
    for (const url of [`/v1/runs/${id}`, `/v1/runs/${id}/report`]) {
      const r = await get(url);
      assert.equal(r.statusCode, 400, `${url}: ${r.body}`);
      const body = r.json();
      assert.match(body.message, /id/, url);
      assert.ok(!r.body.includes(root) && !r.body.includes(SECRET), `${url} leaked: ${r.body}`);
    }
  }
  const missing = await get('/v1/runs/no-such-run');
  assert.equal(missing.statusCode, 404);
  assert.match(missing.json().message, /no run 'no-such-run'/);
  assert.ok(!missing.body.includes(root), `the 404 shows the data path: ${missing.body}`);
  const garbled = await get('/v1/runs/garbled');
  assert.ok(garbled.statusCode >= 400);
  assert.ok(!garbled.body.includes(SECRET) && !garbled.body.includes(root), `a bad record leaked: ${garbled.body}`);
});

test('the same name rule in the CLI and the library: met status ../x is refused without a path', { timeout: 60_000 }, async () => {
  assert.throws(
    () => loadRunRecord(dataDir, '../../outside'),
    (err: Error) => {
      assert.match(err.message, /run id "..\/..\/outside" is not a valid name/);
      return true;
    },
  );
  const cli = spawnMet(['status', '../../outside', '--data', dataDir, '--address', temporal.address, '--namespace', temporal.namespace]);
  const code = await exited(cli);
  assert.notEqual(code, 0);
  assert.match(cli.output(), /run id "..\/..\/outside" is not a valid name/);
  assert.ok(!cli.output().includes(SECRET));
});

test('POST /v1/runs and /v1/consistency take prompts by set name, never a worker path', async () => {
  const spec = { corpus: 'c', prompts: { file: '/etc/passwd.jsonl' }, samplesPerPrompt: 1, sources: [{ kind: 'local', model: 'm', precision: 'fp32' }] };
  const r = await app.inject({ method: 'POST', url: '/v1/runs', payload: spec });
  assert.equal(r.statusCode, 400, r.body);
  assert.match(r.json().message, /^prompts\.file: the HTTP API takes prompts inline \(prompts\.inline: \[\{id, text\}\]\) or by set name/);
  const c = await app.inject({
    method: 'POST',
    url: '/v1/consistency',
    payload: {
      a: { kind: 'local', model: 'm', precision: 'fp32' },
      b: { kind: 'local', model: 'm', precision: 'nf4' },
      prompts: { file: 'x.jsonl' },
      samplesPerPrompt: 1,
      scorer: 'm/fp32',
      embed: { kind: 'endpoint', baseURL: 'http://127.0.0.1:1/v1', model: 'e' },
    },
  });
  assert.equal(c.statusCode, 400, c.body);
  assert.match(c.json().message, /prompts\.file/);
});

test('a loopback API answers only requests addressed to loopback (DNS rebinding)', async () => {
  for (const host of ['localhost:8080', '127.0.0.1:8080', '127.0.0.1', '[::1]:8080', 'LOCALHOST']) {
    assert.equal((await get('/openapi.json', { host })).statusCode, 200, host);
  }
  for (const host of ['evil.example', 'evil.example:8080', '127.0.0.1.evil.example', 'localhost.evil.example:80', '10.0.0.1:8080']) {
    const r = await get('/openapi.json', { host });
    assert.equal(r.statusCode, 403, host);
    assert.match(r.json().message, /^host: /);
  }
});

test('the bearer scheme is case-insensitive; the token is not; met api --host 0.0.0.0 reports 0.0.0.0', async () => {
  const token = 'a-long-random-test-token-abcdef';
  const open = await startApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, host: '0.0.0.0', port: 0, token });
  try {
    assert.match(open.url, /^http:\/\/0\.0\.0\.0:\d+$/);
    const with_ = (authorization: string) => open.app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization } });
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) assert.equal((await with_(`${scheme} ${token}`)).statusCode, 200, scheme);
    for (const bad of [`Bearer ${token.toUpperCase()}`, `Basic ${token}`, token, `Bearer  ${token}x`, 'Bearer'])
      assert.equal((await with_(bad)).statusCode, 401, bad);
  } finally {
    await open.close();
  }
});

test('a run no worker can serve says so within seconds (API and met status); a failed run shows its root cause', { timeout: 90_000 }, async () => {
  const duck = await createDuckDB();
  const taskQueue = uniqueName('api-trust-cpu');
  const served = uniqueName('served');
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue }),
    ...providerWorkerPlans({ dataDir, duck, providers: [{ name: served, concurrentUnits: 1, timeoutMs: 2000 }], env: {} }),
  ];
  const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
  const running = workers.map((w) => w.run());
  const api = await buildApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, taskQueue });
  try {
    const nobody = uniqueName('nobody');
    const spec = (provider: string, extra: Record<string, unknown> = {}) => ({
      corpus: uniqueName('nw'),
      prompts: { set: 'demo', limit: 1 },
      samplesPerPrompt: 1,
      sources: [{ kind: 'provider', provider, model: 'm', ...extra }],
    });
    const started = await api.inject({ method: 'POST', url: '/v1/runs', payload: spec(nobody) });
    assert.equal(started.statusCode, 202, started.body);
    const { runId, statusUrl, workflowId } = started.json();
    const t0 = Date.now();
    let state: { status: string; warnings: string[] } = { status: '', warnings: [] };
    await waitUntil(
      'a warning about the unserved queue',
      async () => {
        state = (await api.inject({ method: 'GET', url: statusUrl })).json();
        return state.warnings.some((w) => w.includes(`no worker polls met-provider-${nobody}`));
      },
      15_000,
    );
    assert.equal(state.status, 'RUNNING');
    assert.ok(Date.now() - t0 < 15_000);
    const cli = spawnMet(['status', runId, '--json', '--data', dataDir, '--address', temporal.address, '--namespace', temporal.namespace]);
    assert.equal(await exited(cli), 0, cli.output());
    assert.match(cli.output(), new RegExp(`no worker polls met-provider-${nobody}`));
    await temporal.client.workflow.getHandle(workflowId).terminate('test done');

    // A run refused by the worker: FAILED, and the failure names the rule (type and message).
    const refused = (await api.inject({ method: 'POST', url: '/v1/runs', payload: spec(served, { baseURL: 'http://127.0.0.1:9/v1' }) })).json();
    let failed: { status: string; failure?: string } = { status: '' };
    await waitUntil(
      'the refused run to fail',
      async () => {
        failed = (await api.inject({ method: 'GET', url: refused.statusUrl })).json();
        return failed.status === 'FAILED';
      },
      30_000,
    );
    assert.match(
      failed.failure ?? '',
      /^MetForbidden: baseURL for provider .* is refused: a run spec may give a baseURL only for a provider the worker config marks allowSpecBaseURL: true/,
    );
    const cli2 = spawnMet(['status', refused.runId, '--data', dataDir, '--address', temporal.address, '--namespace', temporal.namespace]);
    assert.equal(await exited(cli2), 0, cli2.output());
    assert.match(cli2.output(), /failed: MetForbidden: baseURL for provider/);
  } finally {
    await api.close();
    workers.forEach((w) => w.shutdown());
    await Promise.all(running);
    duck.closeSync();
  }
});

test('sizes are bounded at the door: b = 1e9 or L = 1e12 in a test or consistency request is a 400 naming the field', async () => {
  const test = { testId: 'big', x: { corpus: 'c', model: 'm', source: 'a' }, y: { corpus: 'c', model: 'm', source: 'b' } };
  for (const [body, field] of [
    [{ ...test, b: 1e9 }, /^b: b is at most 100,000/],
    [{ ...test, L: 1e12 }, /^L: L is at most 32,768/],
    [{ ...test, k: 1e6 }, /^k: k is at most 64/],
  ] as const) {
    const r = await app.inject({ method: 'POST', url: '/v1/tests?wait=false', payload: body });
    assert.equal(r.statusCode, 400, r.body);
    assert.match(r.json().message, field);
  }
  const c = await app.inject({
    method: 'POST',
    url: '/v1/consistency',
    payload: {
      a: { kind: 'local', model: 'm', precision: 'fp32' },
      b: { kind: 'local', model: 'm', precision: 'nf4' },
      prompts: { set: 'demo' },
      scorer: 'm/fp32',
      embed: { kind: 'endpoint', baseURL: 'http://127.0.0.1:9/v1', model: 'e' },
      test: { b: 1e9 },
    },
  });
  assert.equal(c.statusCode, 400, c.body);
  assert.match(c.json().message, /^test\.b: b is at most 100,000/);
});

test('a run that keeps retrying says why while it runs: the step, its attempt and its last failure', { timeout: 90_000 }, async () => {
  const { createServer } = await import('node:http');
  const limited = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after-ms': '100' }).end(JSON.stringify({ error: { message: 'slow down' } })),
    );
  });
  await new Promise<void>((r) => limited.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(limited.address() as import('node:net').AddressInfo).port}/v1`;
  const duck = await createDuckDB();
  const taskQueue = uniqueName('api-retry-cpu');
  const provider = uniqueName('always429');
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue }),
    ...providerWorkerPlans({ dataDir, duck, providers: [{ name: provider, baseURL: url, concurrentUnits: 1, timeoutMs: 2000 }], env: {} }),
  ];
  const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
  const running = workers.map((w) => w.run());
  const api = await buildApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, taskQueue });
  try {
    const started = (
      await api.inject({
        method: 'POST',
        url: '/v1/runs',
        payload: {
          corpus: uniqueName('rt'),
          prompts: { set: 'demo', limit: 1 },
          samplesPerPrompt: 1,
          sources: [{ kind: 'provider', provider, model: 'm', concurrency: 1 }],
        },
      })
    ).json();
    let warnings: string[] = [];
    await waitUntil(
      'a warning about the retried unit',
      async () => {
        warnings = (await api.inject({ method: 'GET', url: started.statusUrl })).json().warnings;
        return warnings.some((w) => /^sampleUnit is on attempt \d+; last failure: MetProviderUnavailable: .*answered 429/.test(w));
      },
      30_000,
    );
    await temporal.client.workflow.getHandle(started.workflowId).terminate('test done');
  } finally {
    await api.close();
    workers.forEach((w) => w.shutdown());
    await Promise.all(running);
    duck.closeSync();
    await new Promise<void>((r) => limited.close(() => r()));
  }
});
