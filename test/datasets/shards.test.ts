import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ErrorTypes, MetError } from '../../common/errors';
import { quotedString, withConnection } from '../../datasets/duck';
import { quarantineDir, shardPath } from '../../datasets/paths';
import { readSlice } from '../../datasets/reader';
import { shardStatus, unitStatus, writeShard } from '../../datasets/shards';
import { syntheticSamples } from '../../datasets/synthetic';
import { tempData } from './helpers';

const CORPUS = 'shards';
const part = { model: 'm', source: 'fp16' };

function unit(unitId: string, seed: number, prompts = 5, samplesPerPrompt = 4) {
  return syntheticSamples({ corpus: CORPUS, unitId, ...part, prompts, samplesPerPrompt, seed, firstPrompt: seed * prompts });
}

describe('shard writer and status', () => {
  let ctx: Awaited<ReturnType<typeof tempData>>;
  before(async () => {
    ctx = await tempData();
  });
  after(() => ctx.cleanup());

  test('writes one immutable file per unit with count, checksum and units in its footer', async () => {
    const rows = unit('u1', 1);
    const w = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: part, unitId: 'u1' }, rows);
    assert.equal(w.path, shardPath(ctx.root, CORPUS, 'samples', part, 'u1'));
    assert.equal(w.rows, rows.length);
    assert.equal(w.alreadyDone, false);
    const status = await shardStatus(ctx.duck, w.path, 'samples');
    assert.equal(status.state, 'valid');
    if (status.state !== 'valid') return;
    assert.equal(status.rows, rows.length);
    assert.equal(status.checksum, w.checksum);
    assert.deepEqual(status.meta.units, { u1: rows.length });
    assert.deepEqual(status.meta.partition, part);
    assert.equal(status.meta.corpus, CORPUS);
    // No temporaries left behind.
    assert.deepEqual(
      readdirSync(dirname(w.path)).filter((n) => n.startsWith('.')),
      [],
    );
  });

  test('an existing valid shard means the unit is done: it is kept, not rewritten', async () => {
    const path = shardPath(ctx.root, CORPUS, 'samples', part, 'u1');
    const before = readFileSync(path);
    const w = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: part, unitId: 'u1' }, unit('u1', 99));
    assert.equal(w.alreadyDone, true);
    assert.deepEqual(readFileSync(path), before);
  });

  test('the checksum is a content checksum: same rows, same value in any order; one changed value, another', async () => {
    // Same file content in two partitions (partition values live in folder names, not in files).
    const rows = (source: string) => syntheticSamples({ corpus: CORPUS, unitId: 'same', model: 'm', source, prompts: 5, samplesPerPrompt: 4, seed: 2 });
    const a = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'same' }, rows('a'), { validate: 'types' });
    const b = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'same' }, rows('b').reverse());
    assert.notEqual(a.path, b.path);
    assert.equal(a.checksum, b.checksum, 'order-independent');
    const changed = rows('c');
    changed[3] = { ...changed[3], completion: `${changed[3].completion}!` };
    const c = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'same' }, changed);
    assert.notEqual(c.checksum, a.checksum);
  });

  test('golden checksum: DuckDB hash() is unchanged since met pinned it (an upgrade that changes it fails here)', async () => {
    // Computed with DuckDB 1.5.6 when CHECKSUM_ALGORITHM duckdb-hash-sum64-v1 was defined. If this
    // fails after a DuckDB upgrade, existing shards would all verify as corrupt: bump the algorithm.
    const w = await writeShard(
      ctx.duck,
      ctx.root,
      { corpus: CORPUS, kind: 'samples', partition: { model: 'golden', source: 'g' }, unitId: 'golden' },
      syntheticSamples({ corpus: CORPUS, unitId: 'golden', model: 'golden', source: 'g', prompts: 3, samplesPerPrompt: 2, seed: 12345 }),
    );
    assert.equal(w.checksum, GOLDEN_CHECKSUM);
  });

  test('bad rows are refused with the row and field named, and nothing is written', async () => {
    const rows = unit('bad', 3);
    const bad = rows.map((r, i) => (i === 2 ? { ...r, sampleIndex: -1 } : r));
    await assert.rejects(
      writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'bad' }, bad),
      (e: MetError) => e.type === ErrorTypes.BadInput && /row 2/.test(e.message) && /sampleIndex/.test(e.message),
    );
    const fractional = rows.map((r, i) => (i === 1 ? { ...r, tokenIds: [1, 2.5] } : r));
    await assert.rejects(
      writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'bad' }, fractional, { validate: 'types' }),
      (e: MetError) => e.type === ErrorTypes.BadInput && /row 1: tokenIds\[1\]/.test(e.message),
    );
    const nan = rows.map((r, i) => (i === 3 ? { ...r, tokenLogprobs: [-1, Number.NaN] } : r));
    await assert.rejects(writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'bad' }, nan), (e: MetError) =>
      /row 3: tokenLogprobs\[1\] must be a finite number/.test(e.message),
    );
    const badEnum = rows.map((r, i) => (i === 0 ? { ...r, finishReason: 'weird' } : r));
    await assert.rejects(writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'bad' }, badEnum), /row 0 of unit bad: finishReason/);
    const mixed = rows.map((r, i) => (i === 4 ? { ...r, source: 'other' } : r));
    await assert.rejects(writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'bad' }, mixed), /one shard holds one partition/);
    await assert.rejects(
      writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'not-bad' }, rows),
      /unitId is 'bad' but the shard is for unit 'not-bad'/,
    );
    assert.equal(existsSync(shardPath(ctx.root, CORPUS, 'samples', part, 'bad')), false);
    assert.deepEqual(
      readdirSync(dirname(shardPath(ctx.root, CORPUS, 'samples', part, 'bad'))).filter((n) => n.startsWith('.')),
      [],
    );
  });

  test('unit ids and partition values of any text are encoded into safe file names', async () => {
    const odd = { model: '../../etc', source: 'a/b c=d' };
    const rows = syntheticSamples({ corpus: CORPUS, unitId: 'u/1 ü', ...odd, prompts: 1, samplesPerPrompt: 2, seed: 4 });
    const w = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'u/1 ü' }, rows);
    assert.equal(basename(w.path), 'part-u%2F1%20%C3%BC.parquet');
    assert.ok(w.path.includes('model=%2E.%2F..%2Fetc/source=a%2Fb%20c%3Dd'), w.path);
    const status = await unitStatus(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: odd, unitId: 'u/1 ü' });
    assert.equal(status.state, 'valid');
  });

  test('a truncated shard is corrupt: resume quarantines it and reports the unit as to be redone', async () => {
    const w = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: part, unitId: 'trunc' }, unit('trunc', 5));
    const bytes = readFileSync(w.path);
    writeFileSync(w.path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    assert.equal((await shardStatus(ctx.duck, w.path, 'samples')).state, 'corrupt');
    const status = await unitStatus(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: part, unitId: 'trunc' });
    assert.equal(status.state, 'quarantined');
    if (status.state !== 'quarantined') return;
    assert.ok(status.quarantinedTo.startsWith(quarantineDir(ctx.root, CORPUS)));
    assert.ok(existsSync(status.quarantinedTo));
    assert.equal(existsSync(w.path), false);
    assert.equal((await unitStatus(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: part, unitId: 'trunc' })).state, 'missing');
    // Redoing the unit writes a fresh, valid shard.
    const again = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: part, unitId: 'trunc' }, unit('trunc', 5));
    assert.equal(again.alreadyDone, false);
    assert.equal((await shardStatus(ctx.duck, again.path, 'samples')).state, 'valid');
  });

  test('a shard whose content no longer matches its checksum is corrupt', async () => {
    const w = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: part, unitId: 'tampered' }, unit('tampered', 6));
    // Rewrite the file with one row changed but the original footer metadata (a silent data change).
    await withConnection(ctx.duck, async (c) => {
      const meta = (await c.runAndReadAll(`SELECT decode(key), decode(value) FROM parquet_kv_metadata(${quotedString(w.path)})`)).getRows();
      const kv = `{${meta.map(([k, v]) => `${String(k)}: ${quotedString(String(v))}`).join(', ')}}`;
      const tmp = `${w.path}.rewrite`;
      await c.run(
        `COPY (SELECT * REPLACE (CASE WHEN sample_index = 0 AND prompt_id = 'p30' THEN 'changed' ELSE completion END AS completion) FROM read_parquet(${quotedString(w.path)})) TO ${quotedString(tmp)} (FORMAT parquet, KV_METADATA ${kv})`,
      );
      writeFileSync(w.path, readFileSync(tmp));
    });
    const status = await shardStatus(ctx.duck, w.path, 'samples');
    assert.deepEqual(status, { state: 'corrupt', reason: 'content checksum does not match its metadata' });
  });

  test('a shard of a newer schema version is rejected with MetError SchemaVersion, not read and not quarantined', async () => {
    const p = { model: 'future', source: 'v99' };
    const w = await writeShard(
      ctx.duck,
      ctx.root,
      { corpus: CORPUS, kind: 'samples', partition: p, unitId: 'future' },
      syntheticSamples({ corpus: CORPUS, unitId: 'future', ...p, prompts: 2, samplesPerPrompt: 2, seed: 7 }),
    );
    await withConnection(ctx.duck, async (c) => {
      const tmp = `${w.path}.v99`;
      await c.run(
        `COPY (SELECT * FROM read_parquet(${quotedString(w.path)})) TO ${quotedString(tmp)} (FORMAT parquet, KV_METADATA {met_schema_version: '99', met_kind: 'samples', met_rows: '4'})`,
      );
      writeFileSync(w.path, readFileSync(tmp));
    });
    const isVersionError = (e: MetError) => e.type === ErrorTypes.SchemaVersion && /schema version 99/.test(e.message) && /upgrade met/.test(e.message);
    await assert.rejects(shardStatus(ctx.duck, w.path, 'samples'), isVersionError);
    await assert.rejects(unitStatus(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: p, unitId: 'future' }), isVersionError);
    await assert.rejects(readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['future'] }), isVersionError);
    assert.ok(existsSync(w.path));
  });

  test('a file that is not a met shard is corrupt, with the reason', async () => {
    const path = shardPath(ctx.root, CORPUS, 'samples', part, 'foreign');
    await withConnection(ctx.duck, (c) => c.run(`COPY (SELECT 1 AS a) TO ${quotedString(path)} (FORMAT parquet)`));
    assert.deepEqual(await shardStatus(ctx.duck, path, 'samples'), { state: 'corrupt', reason: 'not a met shard (no met_schema_version in its metadata)' });
    assert.deepEqual(await shardStatus(ctx.duck, join(dirname(path), 'part-nothing.parquet'), 'samples'), { state: 'missing' });
  });
});

const GOLDEN_CHECKSUM = '5217636096157491438';
