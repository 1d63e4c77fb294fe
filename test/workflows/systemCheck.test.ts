import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createSystemActivities } from '../../activities/system';
import { systemCheck } from '../../workflows/systemCheck';
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
  const result = await worker.runUntil(
    temporal.client.workflow.execute(systemCheck, { taskQueue, workflowId: uniqueName('wf'), args: [{ pause: '50ms' }] }),
  );
  assert.equal(result.first.pid, process.pid);
  assert.deepEqual(result.first.queues, [taskQueue]);
  assert.equal(result.second.node, process.version);
});
