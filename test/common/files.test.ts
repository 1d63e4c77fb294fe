import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../common/files';

test('writeFileAtomic writes a file whole, replaces it whole, and leaves no temporary file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'met-atomic-'));
  const path = join(dir, 'runs', 'r.json');
  writeFileAtomic(path, '{"a":1}');
  assert.equal(readFileSync(path, 'utf8'), '{"a":1}', 'its folder is made');
  writeFileAtomic(path, Buffer.from('{"a":2}'));
  assert.equal(readFileSync(path, 'utf8'), '{"a":2}');
  assert.deepEqual(readdirSync(join(dir, 'runs')), ['r.json']);
});

test('a write that cannot land leaves what was there and no temporary file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'met-atomic-'));
  const blocked = join(dir, 'index.html');
  mkdirSync(blocked);
  writeFileSync(join(blocked, 'keep'), 'x');
  assert.throws(() => writeFileAtomic(blocked, 'page'));
  assert.deepEqual(readdirSync(dir), ['index.html']);
  assert.deepEqual(readdirSync(blocked), ['keep']);
});
