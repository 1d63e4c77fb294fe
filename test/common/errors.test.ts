import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { ErrorTypes, MetError } from '../../common/errors';
import { rootCauseFailure, toApplicationFailure } from '../../common/failures';

test('a full disk is a non-retryable MetDiskFull that says what to do, not a retry loop', () => {
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const f = toApplicationFailure(enospc) as ApplicationFailure;
  assert.equal(f.type, ErrorTypes.DiskFull);
  assert.equal(f.nonRetryable, true);
  assert.match(f.message, /disk is full \(ENOSPC\): free space on it, then run met resume/);
  // Other I/O errors stay retryable.
  const econnreset = toApplicationFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })) as ApplicationFailure;
  assert.equal(econnreset.nonRetryable, false);
});

test("a workflow fails with its step's root cause (type and message), not 'Activity task failed'", () => {
  const cause = ApplicationFailure.create({ type: ErrorTypes.Forbidden, message: 'baseURL is refused', nonRetryable: true });
  const wrapped = new ActivityFailure('Activity task failed', 'sampleUnit', '1', RetryState.NON_RETRYABLE_FAILURE, 'worker', cause);
  const out = rootCauseFailure(wrapped) as ApplicationFailure;
  assert.ok(out instanceof ApplicationFailure);
  assert.equal(out.type, ErrorTypes.Forbidden);
  assert.equal(out.message, 'baseURL is refused');
  const plain = new MetError(ErrorTypes.BadInput, 'x');
  assert.equal(rootCauseFailure(plain), plain, 'anything else passes through');
});
