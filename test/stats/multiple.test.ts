import assert from 'node:assert/strict';
import { test } from 'node:test';
import { holmAdjust } from '../../stats/multiple';

test('Holm: step-down adjusted p-values, monotone in the sorted order, capped at 1, in input order', () => {
  // Sorted 0.01, 0.02, 0.04 of k = 3: 3 x 0.01 = 0.03, max(0.03, 2 x 0.02) = 0.04, max(0.04, 0.04) = 0.04.
  assert.deepEqual(
    holmAdjust([0.04, 0.01, 0.02]).map((p) => Number(p.toFixed(12))),
    [0.04, 0.03, 0.04],
  );
  assert.deepEqual(holmAdjust([0.5, 0.6]), [1, 1]);
  assert.deepEqual(holmAdjust([0.001]), [0.001]);
  // At alpha 0.05: a candidate at p = 0.03 among three is not rejected once corrected (3 x 0.03 > 0.05 when it is smallest).
  assert.ok(holmAdjust([0.03, 0.4, 0.9])[0] > 0.05);
});
