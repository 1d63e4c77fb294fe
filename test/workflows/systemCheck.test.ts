import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createSystemActivities } from '../../activities/system';
import { systemCheck } from '../../workflows/systemCheck';
import { checkSystem } from '../../client/system';
import { ErrorTypes, MetError } from '../../common/errors';
import { startTestTemporal, uniqueName, type TestTemporal } from '../helpers/temporal';

let temporal: TestTemporal;
before(async () => {
  temporal = await startTestTemporal();
});
after(async () => {
  await temporal?.close();
});

test('systemCheck runs a real workflow with a real activity on the real dev server', async () => {
  const taskQueue = uniqueName('system-check');
  const worker = await temporal.createWorker({ taskQueue, activities: createSystemActivities({ queues: [taskQueue] }) });
  const result = await worker.runUntil(temporal.client.workflow.execute(systemCheck, { taskQueue, workflowId: uniqueName('wf'), args: [{ pause: '50ms' }] }));
  assert.equal(result.first.pid, process.pid);
  assert.deepEqual(result.first.queues, [taskQueue]);
  assert.equal(result.second.node, process.version);
});

test('met doctor (checkSystem): reports the worker that answered, and names the fix when none polls the queue', async () => {
  const taskQueue = uniqueName('doctor');
  const worker = await temporal.createWorker({ taskQueue, activities: createSystemActivities({ queues: [taskQueue] }) });
  const answered = await worker.runUntil(checkSystem(temporal.client, taskQueue, 30));
  assert.deepEqual(answered.second.queues, [taskQueue]);
  assert.equal(answered.second.pid, process.pid);

  const started = Date.now();
  await assert.rejects(checkSystem(temporal.client, uniqueName('nobody-polls'), 2), (err: unknown) => {
    assert.ok(err instanceof MetError, String(err));
    assert.equal(err.type, ErrorTypes.NoWorker);
    assert.match(err.message, /no worker on task queue .* answered within 2 s: start one with 'met worker'/);
    return true;
  });
  assert.ok(Date.now() - started < 20_000, 'the check is bounded by its timeout');
});
