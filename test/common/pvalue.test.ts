import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPValue, pResolution, pValueText } from '../../common/pvalue';

test('one p-value format: three significant digits; 0 of b draws as below 1/(b + 1); never 0.00', () => {
  assert.equal(formatPValue(0.012345, 1000), 'p = 0.0123');
  assert.equal(formatPValue(0.5, 200, { showB: true }), 'p = 0.500 (b = 200)');
  assert.equal(formatPValue(0, 1000), 'p < 0.001 (b = 1000)');
  assert.equal(formatPValue(0, 200), 'p < 0.005 (b = 200)');
  assert.equal(formatPValue(3.2e-7), 'p = 3.20e-7', 'an analytic p-value (RUT) has no b');
  assert.equal(pValueText(0, 1000), '< 0.001');
  assert.equal(pValueText(0), '0', 'b unknown: 0, not 0.00');
  assert.equal(pResolution(999), 0.001);
});
