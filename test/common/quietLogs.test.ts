import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../../temporal/binary';

/**
 * Tests fail activities and workflows on purpose; the SDK logs each such failure at WARN with the
 * whole error and its stack. The test runtime (test/helpers/temporal.ts) prints one line instead.
 */
const script = `
import { ApplicationFailure } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import { quietRuntime } from './test/helpers/temporal.ts';
quietRuntime();
const error = ApplicationFailure.create({ type: 'MetTooFewSamples', message: "corpus 'c' has no samples for models m", nonRetryable: true });
Runtime.instance().logger.warn('Activity failed', { activityType: 'runTwoSampleTest', workflowId: 'runTest/t1', error });
Runtime.instance().logger.warn('Workflow failed', { workflowType: 'runTest', workflowId: 'runTest/t1', error });
Runtime.instance().logger.warn('Something else', { detail: 42 });
`;

function run(env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

test('expected activity and workflow failures log one line each, without stacks; other warnings are kept whole', () => {
  const lines = run({ MET_TEST_VERBOSE: '' }).trim().split('\n');
  assert.equal(lines[0], "[WARN] Activity failed (runTwoSampleTest, runTest/t1): MetTooFewSamples: corpus 'c' has no samples for models m");
  assert.equal(lines[1], "[WARN] Workflow failed (runTest, runTest/t1): MetTooFewSamples: corpus 'c' has no samples for models m");
  assert.match(lines[2], /\[WARN\] Something else \{ detail: 42 \}/);
  assert.equal(lines.length, 3);
});

test("MET_TEST_VERBOSE=1 shows the SDK's full entries", () => {
  const out = run({ MET_TEST_VERBOSE: '1' });
  assert.match(out, /\[WARN\] Activity failed \{/);
  assert.match(out, /^\s+at /m, 'with the stack');
});
