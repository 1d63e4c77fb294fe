import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../../temporal/devServer';
import { readServerState } from '../../config/serverState';
import { exited, spawnMet } from '../helpers/processes';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal';

/**
 * A busy port is said in words with the way out (--port 0), never a raw EADDRINUSE; a demo that
 * fails on a busy port leaves no Temporal server behind. The port is held by this test's own listener.
 */
const dir = mkdtempSync(join(tmpdir(), 'met-ports-'));
let busy: Server;
let busyPort = 0;
let temporal: TestTemporal;
before(async () => {
  temporal = await startTestTemporal();
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  busyPort = (busy.address() as { port: number }).port;
  mkdirSync(join(dir, 'api'));
});
after(async () => {
  busy.close();
  await temporal.close();
  rmSync(dir, { recursive: true, force: true });
});

async function met(args: string[]): Promise<{ code: number | string; output: string }> {
  const child = spawnMet(args, { TEMPORAL_ADDRESS: undefined, MET_TEMPORAL_PORT: undefined });
  const code = await exited(child);
  return { code, output: child.output() };
}

for (const [command, extra] of [
  ['serve', []],
  ['api', () => ['--address', temporal.address, '--namespace', temporal.namespace, '--data', join(dir, 'api')]],
] as const) {
  test(`met ${command} on a busy port says so and advises --port 0`, async () => {
    const r = await met([command, '--port', String(busyPort), ...(typeof extra === 'function' ? extra() : extra)]);
    assert.equal(r.code, 1, r.output);
    assert.match(
      r.output,
      new RegExp(
        `^met: met ${command} cannot listen on 127\\.0\\.0\\.1:${busyPort}: another program already uses that port\\. Choose another with --port N, or --port 0 to take a free one`,
        'm',
      ),
    );
    assert.doesNotMatch(r.output, /EADDRINUSE|^\s+at /m);
  });
}

test('met serve listens off 8000 by default (where the endpoint under audit likely is)', async () => {
  const help = await met(['serve', '--help']);
  const port = /--port <port>.*\(default: "(\d+)"\)/s.exec(help.output)?.[1];
  assert.ok(port, help.output);
  assert.notEqual(port, '8000');
});

test('a demo that fails on a busy endpoint port stops the Temporal server it started', async () => {
  const data = join(dir, 'demo');
  const port = await freePort();
  const r = await met(['demo', '--headless', '--port', String(port), '--endpoint-port', String(busyPort), '--data', data]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /Temporal started at 127\.0\.0\.1:\d+/, 'the demo started its own server');
  assert.match(r.output, new RegExp(`cannot serve endpoint-a on 127\\.0\\.0\\.1:${busyPort} .*--endpoint-port N`));
  assert.equal(readServerState(data), undefined, 'no server.json: the server was stopped');
  const status = await met(['server', 'status', '--data', data]);
  assert.equal(status.code, 3, status.output);
  assert.match(status.output, /^Not running/m);
});
