/**
 * `parallel: auto` (issue #27): a model worker's N from the machine's CPU count, overridden by a
 * number in the worker config or `met worker --parallel N`. workers/plans.ts resolves it when the
 * worker starts (test/models/batchedFallback.test.ts shows it reach a loaded model).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { machineParallel, ModelWorkerSpec, resolveParallel } from '../../config/workers';
import { concurrentUnitsOf } from '../../workers/plans';

const MODEL = { name: 'tiny', precision: 'fp32', path: 'tiny-F32.gguf' };

test('parallel is a number from 1 to 256 or auto; anything else is refused when the config is read', () => {
  assert.equal(ModelWorkerSpec.parse({ ...MODEL, parallel: 'auto' }).parallel, 'auto');
  assert.equal(ModelWorkerSpec.parse({ ...MODEL, parallel: 8 }).parallel, 8);
  assert.equal(ModelWorkerSpec.parse(MODEL).parallel, undefined);
  for (const bad of [0, 257, 2.5, 'many', '8']) assert.equal(ModelWorkerSpec.safeParse({ ...MODEL, parallel: bad }).success, false, String(bad));
});

test('auto is 4 sequences per CPU, from 4 to 16; a number is kept; absent is 1', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 16, 128].map((cores) => machineParallel(cores)),
    [4, 8, 12, 16, 16, 16],
  );
  assert.equal(resolveParallel('auto', 2), 8);
  assert.equal(resolveParallel(3, 64), 3);
  assert.equal(resolveParallel(1, 64), 1);
  assert.equal(resolveParallel(undefined, 64), 1);
});

test('a model worker runs 2 units at once when its backend samples several sequences at once (they share the slots), else 1; a configured number wins', () => {
  const spec = (extra: object = {}) => ModelWorkerSpec.parse({ ...MODEL, ...extra });
  assert.equal(concurrentUnitsOf(spec(), { parallel: 1 }), 1);
  assert.equal(concurrentUnitsOf(spec(), {}), 1);
  assert.equal(concurrentUnitsOf(spec({ parallel: 8 }), { parallel: 8 }), 2);
  // A worker whose batched sampler failed its start check samples one sequence at a time: one unit at a time too.
  assert.equal(concurrentUnitsOf(spec({ parallel: 8 }), { parallel: 1 }), 1);
  assert.equal(concurrentUnitsOf(spec({ parallel: 8, concurrentUnits: 1 }), { parallel: 8 }), 1);
  assert.equal(concurrentUnitsOf(spec({ concurrentUnits: 3 }), { parallel: 1 }), 3);
  assert.equal(ModelWorkerSpec.safeParse({ ...MODEL, concurrentUnits: 0 }).success, false);
});
