import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

/**
 * `met api` on the embedded server's defaults: no --address, no TEMPORAL_ADDRESS, the server's port
 * from MET_TEMPORAL_PORT as `met server start` uses it. Its own --port must not become Temporal's.
 */
let temporal: TestTemporal;
const taskQueue = uniqueName('cli-api');
const dataDir = useTestEnv('met-cli-api-', (env) => ({ temporal } = env), { cpuWorkerQueue: taskQueue });

test('met api with its default Temporal settings starts, answers /health with ok: true, and serves its OpenAPI document', async () => {
  const port = temporal.address.split(':').pop()!;
  const env: NodeJS.ProcessEnv = { MET_DATA: dataDir, MET_TEMPORAL_PORT: port, TEMPORAL_ADDRESS: '', TEMPORAL_NAMESPACE: temporal.namespace };
  const api = spawnMet(['api', '--port', '0', '--queue', taskQueue], env);
  try {
    let url = '';
    await waitUntil('met api to listen', () => {
      if (api.exitCode !== null) throw new Error(`met api exited ${api.exitCode}: ${api.output()}`);
      url = /met API on (http:\/\/\S+)/.exec(api.output())?.[1] ?? '';
      return url !== '';
    });
    const health = (await (await fetch(`${url}/health`)).json()) as { ok: boolean; temporal: { reachable: boolean; address: string } };
    assert.equal(health.temporal.address, `127.0.0.1:${port}`, 'the embedded server, not the API port');
    assert.equal(health.temporal.reachable, true);
    assert.equal(health.ok, true, JSON.stringify(health));
    // The built CLI bundles zod with fastify-type-provider-zod: request schemas still become OpenAPI.
    const doc = (await (await fetch(`${url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }>>;
    };
    assert.ok(doc.paths['/v1/tests']?.post?.requestBody?.content['application/json'].schema.properties?.testId, JSON.stringify(doc.paths['/v1/tests']));
    const bad = await fetch(`${url}/v1/tests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ testId: 't', x: {}, y: {} }),
    });
    assert.equal(bad.status, 400, 'zod validates requests in the built CLI');
    // The web console's files come from the package (api/web/), also when met runs from dist/.
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script src="\/console\/app\.js" defer><\/script>/);
    assert.match(await (await fetch(`${url}/console/app.js`)).text(), /^\/\/ met console: .*function inlineSvg\(/s);
  } finally {
    api.kill('SIGTERM');
    await exited(api);
  }
});
