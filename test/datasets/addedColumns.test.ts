import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { quotedIdentifier } from '@duckdb/node-api';
import { compactCorpus, queryCorpus, verifyCorpus } from '../../datasets/corpus';
import { quotedString, withConnection } from '../../datasets/duck';
import { readLogprobSums, streamRows } from '../../datasets/reader';
import type { LogprobRow } from '../../datasets/schemas';
import { copyToParquet, readShardMeta, shardPath, shardStatus, writeShard } from '../../datasets/shards';
import { ADDED_COLUMNS, FILE_COLUMNS } from '../../datasets/tables';
import { tempData } from './helpers';

/**
 * logprobs gained `scorer_backend` after shards had been written without it. An old shard (no such
 * column, checksum over the columns it has) stays valid, reads as NULL beside new shards in views,
 * slices and streams, and compacts together with new ones.
 */
const CORPUS = 'added';
const partition = { scorerModel: 'tiny', model: 'tiny', source: 'fp32' };

function rows(from: number, n: number, scorerBackend?: string): LogprobRow[] {
  return Array.from({ length: n }, (_, i) => ({
    corpus: CORPUS,
    model: 'tiny',
    source: 'fp32',
    promptId: `p${(from + i) % 3}`,
    sampleIndex: from + i,
    scorerModel: 'tiny',
    scorerPrecision: 'fp32',
    tokenIds: [1 + i, 2 + i],
    tokenLogprobs: [-0.5 - i, -1.25],
    sum: -1.75 - i,
    count: 2,
    ...(scorerBackend === undefined ? {} : { scorerBackend }),
  }));
}

/** Rewrites a shard as met wrote it before the added columns existed: without them, same metadata. */
async function asOldShard(duck: Awaited<ReturnType<typeof tempData>>['duck'], path: string): Promise<void> {
  await withConnection(duck, async (c) => {
    const meta = await readShardMeta(c, path);
    const keep = FILE_COLUMNS.logprobs.filter((col) => !ADDED_COLUMNS.logprobs.includes(col.name)).map((col) => quotedIdentifier(col.name));
    const old = `${path}.old`;
    await copyToParquet(
      c,
      `(SELECT ${keep.join(', ')} FROM read_parquet(${quotedString(path)}))`,
      old,
      {
        kind: 'logprobs',
        rows: Number(meta.get('met_rows')),
        checksum: meta.get('met_checksum')!,
        corpus: CORPUS,
        partition: JSON.parse(meta.get('met_partition')!),
        units: JSON.parse(meta.get('met_units')!),
      },
      1000,
    );
    renameSync(old, path);
    const columns = (await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${quotedString(path)})`)).getRows().map((r) => String(r[0]));
    assert.ok(!columns.includes('scorer_backend'), 'the rewritten shard has no scorer_backend column');
  });
}

test('an old logprob shard (no scorer_backend) stays valid, reads as NULL beside new ones, and compacts with them', async () => {
  const { root, duck, cleanup } = await tempData();
  try {
    const old = await writeShard(duck, root, { corpus: CORPUS, kind: 'logprobs', partition, unitId: 'old' }, rows(0, 4));
    await asOldShard(duck, old.path);
    assert.equal((await shardStatus(duck, old.path, 'logprobs', true)).state, 'valid', 'checksum over the columns it has');

    // A corpus of old shards only still has the column in its views.
    let q = await queryCorpus(duck, root, CORPUS, 'SELECT count(*)::INT AS n, count(scorer_backend)::INT AS set FROM logprobs');
    assert.deepEqual(q.rows, [[4, 0]]);

    const fresh = await writeShard(
      duck,
      root,
      { corpus: CORPUS, kind: 'logprobs', partition, unitId: 'new' },
      rows(4, 3, 'llama.cpp in-process (server: llama.cpp)'),
    );
    assert.equal(fresh.path, shardPath(root, CORPUS, 'logprobs', partition, 'new'));
    const nulls = await writeShard(duck, root, { corpus: CORPUS, kind: 'logprobs', partition, unitId: 'new-null' }, rows(7, 2, undefined));
    for (const p of [fresh.path, nulls.path]) assert.equal((await shardStatus(duck, p, 'logprobs', true)).state, 'valid');

    q = await queryCorpus(duck, root, CORPUS, 'SELECT sample_index, scorer_backend FROM logprobs ORDER BY sample_index');
    assert.deepEqual(
      q.rows.map((r) => r[1]),
      [
        null,
        null,
        null,
        null,
        'llama.cpp in-process (server: llama.cpp)',
        'llama.cpp in-process (server: llama.cpp)',
        'llama.cpp in-process (server: llama.cpp)',
        null,
        null,
      ],
    );
    const streamed: Record<string, unknown>[] = [];
    for await (const batch of streamRows(duck, root, { corpus: CORPUS, kind: 'logprobs' })) streamed.push(...batch);
    assert.equal(streamed.length, 9);
    assert.equal(streamed.filter((r) => r.scorerBackend === 'llama.cpp in-process (server: llama.cpp)').length, 3);
    const sums = await readLogprobSums(duck, root, { corpus: CORPUS, scorerModel: 'tiny' });
    assert.equal(sums.sum.length, 9);

    let report = await verifyCorpus(duck, root, CORPUS);
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    const compacted = await compactCorpus(duck, root, CORPUS, { kinds: ['logprobs'] });
    assert.equal(compacted.merged.length, 1, JSON.stringify(compacted));
    report = await verifyCorpus(duck, root, CORPUS);
    assert.equal(report.ok, true, JSON.stringify(report.problems));
    q = await queryCorpus(duck, root, CORPUS, 'SELECT count(*)::INT, count(scorer_backend)::INT FROM logprobs');
    assert.deepEqual(q.rows, [[9, 3]]);
  } finally {
    cleanup();
  }
});

test('a set scorer_backend is covered by the checksum; NULL hashes as before the column existed', async () => {
  const { root, duck, cleanup } = await tempData();
  try {
    const a = await writeShard(duck, root, { corpus: CORPUS, kind: 'logprobs', partition, unitId: 'a' }, rows(0, 3));
    await asOldShard(duck, a.path);
    const b = await writeShard(
      duck,
      root,
      { corpus: CORPUS, kind: 'logprobs', partition: { ...partition, source: 'b' }, unitId: 'a' },
      rows(0, 3).map((r) => ({ ...r, source: 'b' })),
    );
    const c = await writeShard(
      duck,
      root,
      { corpus: CORPUS, kind: 'logprobs', partition: { ...partition, source: 'c' }, unitId: 'a' },
      rows(0, 3, 'x').map((r) => ({ ...r, source: 'c' })),
    );
    assert.equal(a.checksum, b.checksum, 'NULL scorer_backend: the checksum of a shard without the column');
    assert.notEqual(b.checksum, c.checksum, 'a set scorer_backend changes the checksum');
    // Tampering with the column is detected.
    await withConnection(duck, async (conn) => {
      const meta = await readShardMeta(conn, c.path);
      const tampered = join(root, 'tampered.parquet');
      await copyToParquet(
        conn,
        `(SELECT * REPLACE ('y' AS scorer_backend) FROM read_parquet(${quotedString(c.path)}))`,
        tampered,
        { kind: 'logprobs', rows: 3, checksum: meta.get('met_checksum')!, corpus: CORPUS, partition: { ...partition, source: 'c' }, units: { a: 3 } },
        1000,
      );
      const status = await shardStatus(duck, tampered, 'logprobs', true);
      assert.equal(status.state, 'corrupt');
    });
  } finally {
    cleanup();
  }
});
