import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkGgufHeader } from '../../models/ggufHeader';
import { readGgufFile } from '../../models/ggufFile';
import { writeTinyModels } from '../../models/tiny';
import { exited, spawnMet } from '../helpers/processes';

/** Issue #28: a malformed GGUF header fails at once, naming the file and the field, in bounded memory. */
const dir = mkdtempSync(join(tmpdir(), 'met-gguf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** 88 bytes: magic, version 3, 0 tensors, 2^50 metadata entries, then a short first entry. */
function hostile(): Buffer {
  const b = Buffer.alloc(88);
  b.write('GGUF', 0, 'latin1');
  b.writeUInt32LE(3, 4);
  b.writeBigUInt64LE(0n, 8);
  b.writeBigUInt64LE(2n ** 50n, 16);
  b.writeBigUInt64LE(4n, 24);
  b.write('key1', 32, 'latin1');
  b.writeUInt32LE(4, 36);
  return b;
}

test('the 88-byte GGUF claiming 2^50 entries is refused at once, naming the file and the field; a real file passes', () => {
  const models = writeTinyModels(dir);
  const path = join(dir, 'evil.gguf');
  writeFileSync(path, hostile());
  const rss = process.memoryUsage().rss;
  const started = performance.now();
  assert.throws(
    () => checkGgufHeader(path),
    /evil\.gguf is not a valid GGUF file: metadata entry count (is|claims) 1,125,899,906,842,624.* \(the file has 88 bytes\)/,
  );
  assert.throws(() => readGgufFile(path), /evil\.gguf is not a valid GGUF file/);
  assert.ok(performance.now() - started < 1000);
  assert.ok(process.memoryUsage().rss - rss < 50 * 1024 * 1024);
  // Other lies: a string, an array and a tensor count past the end.
  const longKey = Buffer.from(hostile());
  longKey.writeBigUInt64LE(1n, 16);
  longKey.writeBigUInt64LE(2n ** 40n, 24);
  writeFileSync(path, longKey);
  assert.throws(() => checkGgufHeader(path), /metadata entry 0 key \(its length\) is 1,099,511,627,776, more than the file's bytes/);
  const array = Buffer.from(hostile());
  array.writeBigUInt64LE(1n, 16);
  array.writeUInt32LE(9, 36); // an array
  array.writeUInt32LE(8, 40); // of strings
  array.writeBigUInt64LE(40n, 44); // 40 of them: 320 bytes at least, in 36 left
  writeFileSync(path, array);
  assert.throws(() => checkGgufHeader(path), /metadata "key1" claims 40 elements, more than the file can hold/);
  for (const file of Object.values(models)) {
    const summary = checkGgufHeader(file);
    assert.ok(summary.tensorCount > 0 && summary.kvCount > 0);
    assert.equal(readGgufFile(file).tensors.length, summary.tensorCount);
  }
});

test('met models ls reports each bad file and lists the others', { timeout: 60_000 }, async () => {
  writeFileSync(join(dir, 'evil.gguf'), hostile());
  writeFileSync(join(dir, 'empty.gguf'), Buffer.alloc(0));
  const cli = spawnMet(['models', 'ls', '--dir', dir]);
  const code = await exited(cli);
  const out = cli.output();
  assert.equal(code, 1, out);
  assert.match(out, /skipped evil\.gguf: evil\.gguf is not a valid GGUF file: metadata entry count/);
  assert.match(out, /skipped empty\.gguf: empty\.gguf is not a valid GGUF file: magic/);
  assert.match(out, /tiny-F32\.gguf\s+\d+\s+\S+/);
});
