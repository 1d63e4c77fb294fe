import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dataLocation } from '../../config/schema';

/** Issue #31: met corpus resolved --data with `??`, so an empty MET_DATA named the current folder; every command now reads it one way. */
test('--data, else MET_DATA, else ./.met; an empty value counts as unset', () => {
  assert.deepEqual(dataLocation({}, { MET_DATA: '' }), { value: '.met', location: { kind: 'local', root: '.met' } });
  assert.deepEqual(dataLocation({ data: '' }, { MET_DATA: '/d' }).value, '/d');
  assert.deepEqual(dataLocation({ data: 'x' }, { MET_DATA: '/d' }).value, 'x');
  assert.equal(dataLocation({}, { MET_DATA: 's3://bucket/p' }).location.kind, 's3');
  assert.throws(() => dataLocation({ data: 's3://' }, {}), /--data/);
});
