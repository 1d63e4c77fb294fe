import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApi, MIN_TOKEN_LENGTH } from '../../api/server';
import { TestSpec } from '../../config/testSpec';

/** Issue #28, smaller items: names from outside keep the name rule everywhere; an API token must be long enough to be one. */
test("a test's selectors and scorer are held to the name rule", () => {
  const base = { testId: 't1', x: { corpus: 'c', model: 'm', source: 'a' }, y: { corpus: 'c', model: 'm', source: 'b' } };
  assert.ok(TestSpec.safeParse(base).success);
  for (const bad of ["m'; DROP TABLE samples; --", '../etc', 'a b', 'x\u0000', '']) {
    const r = TestSpec.safeParse({ ...base, y: { ...base.y, model: bad } });
    assert.equal(r.success, false, bad);
    assert.ok(!TestSpec.safeParse({ ...base, x: { ...base.x, source: bad } }).success, bad);
  }
  assert.ok(!TestSpec.safeParse({ ...base, stat: 'rut', scorer: { model: 'tiny', precision: 'fp8' } }).success);
  assert.ok(!TestSpec.safeParse({ ...base, stat: 'rut', scorer: { model: 'ti/ny', precision: 'fp32' } }).success);
  assert.ok(TestSpec.safeParse({ ...base, stat: 'rut', scorer: { model: 'tiny', precision: 'fp32' } }).success);
});

test(`an API token shorter than ${MIN_TOKEN_LENGTH} characters is refused`, async () => {
  await assert.rejects(buildApi({ client: {} as never, dataDir: '/nonexistent', token: 'x' } as never), /the API token has 1 character\(s\): use at least 16/);
});
