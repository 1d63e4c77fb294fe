import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { exited, spawnMet, waitUntil } from '../helpers/processes';

/**
 * Issue #28: a `met worker` polls through a Temporal outage (the SDK retries its polls), but when one
 * of its workers fails for good the process exits, non-zero and saying why, with all of its queues:
 * never a process that looks alive while one of its queues is no longer polled (it would hold a run
 * for good, since nothing restarts a worker that has not exited). A server that comes back without
 * the worker's namespace fails its polls for good.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'met-worker-lost-'));
const otherDir = mkdtempSync(join(tmpdir(), 'met-worker-lost-b-'));
let address: string;
let port: number;

before(async () => {
  port = await freePort();
  address = `127.0.0.1:${port}`;
  await startDevServer({ dataDir, port, headless: true, namespace: 'lost-ns' });
});
after(async () => {
  await stopDevServer(otherDir);
  for (const d of [dataDir, otherDir]) rmSync(d, { recursive: true, force: true });
});

test('a worker polling two queues exits, saying why, when its server comes back without its namespace', { timeout: 240_000 }, async (t) => {
  const config = join(dataDir, 'providers.yaml');
  writeFileSync(config, stringify({ providers: [{ name: 'lost', baseURL: 'http://127.0.0.1:9/v1' }] }));
  const worker = spawnMet(['worker', '--queue', 'met-cpu', '--provider', 'lost', '--config', config], {
    MET_DATA: dataDir,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: 'lost-ns',
  });
  try {
    await waitUntil('the worker polling both queues', () => (worker.output().match(/worker polling/g) ?? []).length >= 2, 60_000);
    await stopDevServer(dataDir);
    await startDevServer({ dataDir: otherDir, port, headless: true });
    const down = Date.now();
    const code = await Promise.race([exited(worker), new Promise<string>((r) => setTimeout(() => r('still running'), 90_000))]);
    t.diagnostic(
      worker
        .output()
        .split('\n')
        .filter((l) => /Worker failed|stops all/.test(l))
        .join('\n')
        .slice(0, 2000),
    );
    t.diagnostic(`exited ${code} after ${((Date.now() - down) / 1000).toFixed(1)} s after its server came back without its namespace`);
    assert.notEqual(code, 'still running', `the worker was still running 90 s later:\n${worker.output().slice(-3000)}`);
    assert.notEqual(code, 0);
    assert.match(worker.output(), /the worker polling \S+ failed: .*lost-ns.*; this process stops all its queues/);
  } finally {
    worker.kill('SIGKILL');
    await exited(worker);
  }
});
