import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ErrorTypes, MetError } from '../../common/errors';
import { parseDataLocation } from '../../common/location';
import { BucketCorpora } from '../../datasets/corpora';
import { CorpusStore } from '../../datasets/corpusStore';
import { listShards } from '../../datasets/paths';
import { readSlice } from '../../datasets/reader';
import { parseLocation, S3CorpusStore } from '../../datasets/s3';
import { writeShard } from '../../datasets/shards';
import { syntheticSamples } from '../../datasets/synthetic';
import { exited, spawnMet } from '../helpers/processes';
import { startMoto, tempData } from './helpers';

/** s3:// corpus locations against moto's S3-compatible server on loopback. */
const CORPUS = 'shared';

describe('s3:// corpus locations (moto server on 127.0.0.1)', () => {
  let ctx: Awaited<ReturnType<typeof tempData>>;
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let client: S3Client;
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  before(async () => {
    ctx = await tempData();
    moto = await startMoto();
    client = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    await client.send(new CreateBucketCommand({ Bucket: 'met-corpora' }));
    for (const source of ['fp32', 'nf4']) {
      const rows = syntheticSamples({
        corpus: CORPUS,
        unitId: `u-${source}`,
        model: 'org/model',
        source,
        prompts: 5,
        samplesPerPrompt: 6,
        seed: source.length,
      });
      await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: `u-${source}` }, rows);
    }
  });
  after(async () => {
    client?.destroy();
    await moto?.stop();
    ctx?.cleanup();
  });

  test('parses s3://bucket/prefix', () => {
    assert.deepEqual(parseLocation('s3://met-corpora/team/a/'), { kind: 's3', bucket: 'met-corpora', prefix: 'team/a' });
    assert.deepEqual(parseLocation('/data'), { kind: 'local', root: '/data' });
    assert.throws(
      () => parseLocation('s3://Bad_Bucket/x'),
      (e: MetError) => e.type === ErrorTypes.BadInput,
    );
  });

  test('push uploads completed shards once, with their row counts in the object metadata; pull reads them back identically', async () => {
    const store = S3CorpusStore.at(client, parseLocation('s3://met-corpora/team'));
    assert.deepEqual(await store.push(ctx.duck, ctx.root, CORPUS), { uploaded: 2, unchanged: 0 });
    assert.deepEqual(await store.push(ctx.duck, ctx.root, CORPUS), { uploaded: 0, unchanged: 2 });
    const objects = await store.list();
    assert.deepEqual(
      objects.map((o) => o.key),
      [
        'team/corpus/shared/samples/model=org%2Fmodel/source=fp32/part-u-fp32.parquet',
        'team/corpus/shared/samples/model=org%2Fmodel/source=nf4/part-u-nf4.parquet',
      ],
    );
    const head = await store.head(objects[0].key);
    assert.equal(head.state, 'present');
    if (head.state === 'present') assert.equal(head.rows, 30);
    assert.deepEqual(await store.head('team/corpus/shared/samples/nothing.parquet'), { state: 'missing' });
    assert.deepEqual(await store.listCorpora(), [CORPUS]);

    const other = mkdtempSync(join(tmpdir(), 'met-s3-pull-'));
    try {
      assert.deepEqual(await store.pull(ctx.duck, other, CORPUS), { downloaded: 2, unchanged: 0, removed: 0 });
      assert.deepEqual(await store.pull(ctx.duck, other, CORPUS), { downloaded: 0, unchanged: 2, removed: 0 });
      const local = listShards(ctx.root, CORPUS, 'samples');
      const pulled = listShards(other, CORPUS, 'samples');
      assert.deepEqual(
        pulled.map((s) => s.name),
        local.map((s) => s.name),
      );
      pulled.forEach((s, i) => assert.deepEqual(readFileSync(s.path), readFileSync(local[i].path)));
      const a = await readSlice(ctx.duck, ctx.root, { corpus: CORPUS, sources: ['nf4'], L: 64 });
      const b = await readSlice(ctx.duck, other, { corpus: CORPUS, sources: ['nf4'], L: 64 });
      assert.deepEqual(b.sample, a.sample);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  test('a corrupt local shard is never uploaded', async () => {
    const rows = syntheticSamples({ corpus: CORPUS, unitId: 'bad', model: 'org/model', source: 'fp32', prompts: 1, samplesPerPrompt: 2, seed: 9 });
    const w = await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'bad' }, rows);
    const bytes = readFileSync(w.path);
    writeFileSync(w.path, bytes.subarray(0, 100));
    const store = S3CorpusStore.at(client, parseLocation('s3://met-corpora/team'));
    await assert.rejects(store.uploadShard(ctx.duck, ctx.root, w.path, 'samples'), (e: MetError) => e.type === ErrorTypes.ShardCorrupt);
    assert.equal((await store.head(store.keyOf(ctx.root, w.path))).state, 'missing');
    rmSync(w.path);
  });

  test('met corpus stats/query --data s3://... pulls into a cache and reads there', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'met-s3-cache-'));
    try {
      const env = { MET_S3_ENDPOINT: moto.endpoint, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', MET_CACHE: cache };
      const q = spawnMet(
        ['corpus', 'query', CORPUS, 'SELECT source, count(*) AS n FROM samples GROUP BY ALL ORDER BY ALL', '--json', '--data', 's3://met-corpora/team'],
        env,
      );
      assert.equal(await exited(q), 0, q.output());
      assert.match(q.output(), /2 downloaded/);
      assert.deepEqual(JSON.parse(q.output().slice(q.output().indexOf('['))), [
        { source: 'fp32', n: '30' },
        { source: 'nf4', n: '30' },
      ]);
      const ls = spawnMet(['corpus', 'ls', '--data', 's3://met-corpora/team'], env);
      assert.equal(await exited(ls), 0, ls.output());
      assert.match(ls.output(), /^shared +samples +2 +60 /m);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
  test('a commit checks its keys against its own slice only: the sync lists and fetches that slice, not the whole corpus', async () => {
    const location = parseDataLocation('s3://met-corpora/commit');
    if (location.kind !== 's3') throw new Error('s3');
    const scratch = mkdtempSync(join(tmpdir(), 'met-commit-'));
    try {
      const corpora = new BucketCorpora(ctx.duck, client, location, join(scratch, 'stage'), join(scratch, 'cache'));
      const store = new CorpusStore(ctx.duck, corpora.writeRoot, corpora);
      const rows = (source: string, unitId: string, firstPrompt: number) =>
        syntheticSamples({ corpus: 'hot', unitId, model: 'm', source, prompts: 2, samplesPerPrompt: 3, seed: firstPrompt + source.length, firstPrompt });
      // Slice m/b holds three shards; slice m/a one.
      for (const [i, unit] of ['b1', 'b2', 'b3'].entries()) await store.writeShard('hot', 'samples', { model: 'm', source: 'b' }, unit, rows('b', unit, 2 * i));
      await store.writeShard('hot', 'samples', { model: 'm', source: 'a' }, 'a1', rows('a', 'a1', 0));
      assert.equal(corpora.lastSync.shards, 0, "slice m/a's first commit synced nothing of slice m/b");
      // New keys in m/a commit; the check synced m/a's one shard, not m/b's three.
      await store.writeShard('hot', 'samples', { model: 'm', source: 'a' }, 'a2', rows('a', 'a2', 2));
      assert.equal(corpora.lastSync.shards, 1);
      // Keys m/a already holds are refused (nothing uploaded); keys only m/b holds are not m/a's business.
      await assert.rejects(
        store.writeShard('hot', 'samples', { model: 'm', source: 'a' }, 'planted', rows('a', 'planted', 0)),
        /unit planted was not committed: 6 of its 6 sample keys are already in slice hot:m\/a/,
      );
      assert.equal(corpora.lastSync.shards, 2);
      await store.writeShard('hot', 'samples', { model: 'm', source: 'a' }, 'a3', rows('a', 'a3', 4));
      const keys = (await S3CorpusStore.at(client, parseLocation('s3://met-corpora/commit')).list()).map((o) => o.key.slice(o.key.lastIndexOf('/') + 1)).sort();
      assert.deepEqual(keys, ['part-a1.parquet', 'part-a2.parquet', 'part-a3.parquet', 'part-b1.parquet', 'part-b2.parquet', 'part-b3.parquet']);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
