import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorTypes, type MetError } from '../../common/errors';
import { parseDataLocation } from '../../common/location';
import { exited, spawnMet } from '../helpers/processes';

/** --data / MET_DATA values with a URL scheme are object storage or refused: never a folder named 's3:' or 'gs:'. */
test('parseDataLocation: folders, s3://bucket/prefix, and refusals', () => {
  assert.deepEqual(parseDataLocation('/srv/met'), { kind: 'local', root: '/srv/met' });
  assert.deepEqual(parseDataLocation('.met'), { kind: 'local', root: '.met' });
  assert.deepEqual(parseDataLocation('C:\\met'), { kind: 'local', root: 'C:\\met' });
  assert.deepEqual(parseDataLocation('./gs:/x'), { kind: 'local', root: './gs:/x' });
  assert.deepEqual(parseDataLocation('s3://bars/fleet/'), { kind: 's3', bucket: 'bars', prefix: 'fleet', url: 's3://bars/fleet' });
  assert.deepEqual(parseDataLocation('s3://bars'), { kind: 's3', bucket: 'bars', prefix: '', url: 's3://bars' });
  for (const bad of [
    'gs://bars/fleet',
    'http://host/x',
    's3:/bars/fleet',
    'file:///srv/met',
    'S3://bars',
    's3://Bad_Bucket/x',
    's3://bars/a//b',
    's3://bars/../x',
  ]) {
    assert.throws(
      () => parseDataLocation(bad),
      (e: MetError) => e.type === ErrorTypes.BadInput && e.message.includes(bad),
      bad,
    );
  }
});

test('met worker / met runs / met corpus with a URL --data: refused or handled, and no folder named after the URL', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'met-url-data-'));
  try {
    for (const args of [
      ['worker', '--data', 'gs://bars/fleet', '--address', '127.0.0.1:1'],
      ['runs', '--data', 's3:/bars/fleet', '--address', '127.0.0.1:1'],
      ['corpus', 'verify', 'c', '--data', 'http://example.invalid/x'],
    ]) {
      const child = spawnMet(args, { MET_FROM_SOURCE: '1' }, cwd);
      const code = await exited(child);
      assert.notEqual(code, 0, child.output());
      assert.match(child.output(), /is a URL met cannot store corpora at: give a local folder or s3:\/\/bucket\/prefix/);
    }
    const env = spawnMet(['runs', '--address', '127.0.0.1:1'], { MET_DATA: 'gs://bars/fleet', MET_FROM_SOURCE: '1' }, cwd);
    assert.notEqual(await exited(env), 0);
    assert.match(env.output(), /MET_DATA 'gs:\/\/bars\/fleet' is a URL/);
    assert.deepEqual(readdirSync(cwd), [], 'no folder was created');
    assert.equal(existsSync(join(cwd, 's3:')), false);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
