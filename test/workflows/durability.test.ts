import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import type { systemCheck } from '../../workflows/systemCheck';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { uniqueName } from '../helpers/temporal';

/**
 * Durability: a workflow survives its worker being killed with SIGKILL and the Temporal server
 * being stopped and restarted on the same SQLite file. Uses its own server (it restarts it).
 */
const dataDir = mkdtempSync(join(tmpdir(), 'met-durability-'));
after(async () => {
  await stopDevServer(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
});

test('a workflow completes after SIGKILL of its worker and a restart of the server', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  await startDevServer({ dataDir, port, headless: true });
  const taskQueue = uniqueName('durability');
  const workerArgs = ['worker', '--queue', taskQueue, '--address', address, '--data', dataDir];

  const worker1 = spawnMet(workerArgs);
  let connection = await Connection.connect({ address });
  let client = new Client({ connection, namespace: 'met' });
  const workflowId = uniqueName('durable');
  const handle = await client.workflow.start<typeof systemCheck>('systemCheck', { taskQueue, workflowId, args: [{ pause: '6s' }] });

  // Wait until the first activity has completed and the durable timer is running.
  await waitUntil(
    'the timer to start',
    async () => {
      const history = await handle.fetchHistory();
      return (history.events ?? []).some((e) => e.timerStartedEventAttributes);
    },
    60_000,
  );

  worker1.kill('SIGKILL');
  assert.equal(await exited(worker1), 'SIGKILL');
  await connection.close();
  await stopDevServer(dataDir);
  await startDevServer({ dataDir, port, headless: true });

  const worker2 = spawnMet(workerArgs);
  try {
    connection = await Connection.connect({ address });
    client = new Client({ connection, namespace: 'met' });
    const result = await client.workflow.getHandle<typeof systemCheck>(workflowId).result();
    assert.equal(result.first.pid, worker1.pid, 'the first probe ran on the killed worker');
    assert.equal(result.second.pid, worker2.pid, 'the second probe ran on the restarted worker');
    assert.deepEqual(result.second.queues, [taskQueue]);
  } finally {
    worker2.kill('SIGTERM');
    const code = await exited(worker2);
    assert.equal(code, 0, `worker shuts down cleanly on SIGTERM:\n${worker2.output()}`);
    await connection.close();
  }
});
