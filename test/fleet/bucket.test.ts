import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { readPublishedReport } from '../../client/runs';
import { parseDataLocation } from '../../common/location';
import { BucketCorpora } from '../../datasets/corpora';
import { corpusStats } from '../../datasets/corpus';
import { createDuckDB, type DuckDBInstance } from '../../datasets/duck';
import { listShards } from '../../datasets/paths';
import { syntheticSamples } from '../../datasets/synthetic';
import { OBJECT_STORES, startObjectStore, storeSkip, type ObjectStore } from '../helpers/objectStore';
import { exited, spawnMet } from '../helpers/processes';

/** Bucket corpora (datasets/corpora.ts) against moto and SeaweedFS on loopback: commits, unit status from metadata, exactly once, the read cache. */
const BUCKET = 'fleet-unit';
const CORPUS = 'c1';
const partition = { model: 'org/m', source: 'api' };
// Unit uN holds prompts p(4N)..p(4N+3): no two units share a sample key.
const rowsOf = (unitId: string, seed: number) =>
  syntheticSamples({
    corpus: CORPUS,
    unitId,
    model: partition.model,
    source: partition.source,
    firstPrompt: 4 * Number(unitId.slice(1)),
    prompts: 4,
    samplesPerPrompt: 5,
    seed,
  });

for (const kind of OBJECT_STORES)
  describe(`bucket corpora (${kind} on 127.0.0.1)`, { skip: storeSkip(kind) }, () => {
    let store: ObjectStore;
    let client: S3Client;
    let duck: DuckDBInstance;
    const dirs: string[] = [];
    const host = (name: string) => {
      const dir = mkdtempSync(join(tmpdir(), `met-fleet-${name}-`));
      dirs.push(dir);
      const location = parseDataLocation(`s3://${BUCKET}/team/x`);
      if (location.kind !== 's3') throw new Error('s3');
      return new BucketCorpora(duck, client, location, join(dir, 'scratch'), join(dir, 'cache'));
    };
    before(async () => {
      store = await startObjectStore(kind);
      client = store.client();
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
      duck = await createDuckDB();
    });
    after(async () => {
      client?.destroy();
      await store?.stop();
      duck?.closeSync();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    test('a committed shard is one object with its row count and checksum; the unit is done from its metadata alone', async () => {
      const a = host('a');
      const target = { corpus: CORPUS, kind: 'samples' as const, partition, unitId: 'u1' };
      assert.equal((await a.unitStatus(target)).state, 'missing');
      const w = await a.writeShard(target, rowsOf('u1', 1));
      assert.equal(w.alreadyDone, false);
      assert.equal(w.path, `s3://${BUCKET}/team/x/corpus/c1/samples/model=org%2Fm/source=api/part-u1.parquet`);
      const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'team/x/corpus/c1/samples/model=org%2Fm/source=api/part-u1.parquet' }));
      assert.equal(head.Metadata?.['met-rows'], '20');
      assert.equal(head.Metadata?.['met-checksum'], w.checksum);
      // Another host, with nothing on its disk, sees the unit done.
      const b = host('b');
      assert.deepEqual(await b.unitStatus(target), { state: 'valid', rows: 20, checksum: w.checksum, path: w.path });
      const again = await b.writeShard(target, rowsOf('u1', 99));
      assert.equal(again.alreadyDone, true);
      assert.equal(again.checksum, w.checksum, "the first committed shard stays the unit's shard");
      // The store refuses a second create of the key (what makes the commit exactly once under a race).
      await assert.rejects(
        client.send(
          new PutObjectCommand({ Bucket: BUCKET, Key: 'team/x/corpus/c1/samples/model=org%2Fm/source=api/part-u1.parquet', Body: 'x', IfNoneMatch: '*' }),
        ),
        (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 412,
      );
      // The staged file did not stay in scratch.
      assert.deepEqual(listShards(a.writeRoot, CORPUS, 'samples'), []);
    });

    test('an object without met metadata is never counted, and the next commit replaces it', async () => {
      const a = host('c');
      const target = { corpus: CORPUS, kind: 'samples' as const, partition, unitId: 'u2' };
      const key = 'team/x/corpus/c1/samples/model=org%2Fm/source=api/part-u2.parquet';
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'PAR1 half a file' }));
      assert.equal((await a.unitStatus(target)).state, 'missing');
      assert.equal(
        (await a.listShards(CORPUS, 'samples')).some((s) => s.name === 'part-u2.parquet'),
        false,
      );
      const w = await a.writeShard(target, rowsOf('u2', 2));
      assert.equal(w.alreadyDone, false);
      assert.equal((await a.unitStatus(target)).state, 'valid');
    });

    test('two hosts finishing the same unit at once leave one complete shard (If-None-Match)', async () => {
      const target = { corpus: CORPUS, kind: 'samples' as const, partition, unitId: 'u3' };
      const hosts = [host('d'), host('e'), host('f')];
      const results = await Promise.all(hosts.map((h, i) => h.writeShard(target, rowsOf('u3', 10 + i))));
      const winners = results.filter((r) => !r.alreadyDone);
      assert.ok(winners.length <= 1, `at most one upload wins, got ${winners.length}`);
      const status = await hosts[0].unitStatus(target);
      assert.equal(status.state, 'valid');
      if (status.state === 'valid') for (const r of results) assert.equal(r.checksum, status.checksum, 'every writer reports the committed shard');
    });

    test('a host that died after staging its shard but before the upload: a retry elsewhere commits the unit once', async () => {
      const dead = host('g');
      const target = { corpus: CORPUS, kind: 'samples' as const, partition, unitId: 'u4' };
      // The dead host's local write (what writeShard does before its PUT).
      const { writeShard } = await import('../../datasets/shards');
      await writeShard(duck, dead.writeRoot, target, rowsOf('u4', 4));
      assert.equal((await dead.unitStatus(target)).state, 'missing', 'a staged shard is not a committed one');
      const retry = host('h');
      const w = await retry.writeShard(target, rowsOf('u4', 4));
      assert.equal(w.alreadyDone, false);
      // The dead host comes back and finishes its attempt: it finds the unit done and uploads nothing.
      const late = await dead.writeShard(target, rowsOf('u4', 4));
      assert.equal(late.alreadyDone, true);
      assert.equal((await retry.listShards(CORPUS, 'samples')).filter((s) => s.name === 'part-u4.parquet').length, 1);
    });

    test('a host killed in the middle of its PUT leaves no object; the retry elsewhere commits the unit once', async () => {
      const dying = host('i');
      const target = { corpus: CORPUS, kind: 'samples' as const, partition, unitId: 'u5' };
      const { writeShard } = await import('../../datasets/shards');
      const staged = await writeShard(duck, dying.writeRoot, target, rowsOf('u5', 5));
      const bytes = readFileSync(staged.path);
      // Half the body goes out, then the connection dies (what SIGKILL does to an upload in flight).
      const abort = new AbortController();
      let sent = false;
      const body = new Readable({
        read() {
          if (sent) return;
          sent = true;
          this.push(bytes.subarray(0, bytes.length >> 1));
          setTimeout(() => abort.abort(), 200);
        },
      });
      const key = 'team/x/corpus/c1/samples/model=org%2Fm/source=api/part-u5.parquet';
      await assert.rejects(
        client.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: key,
            Body: body,
            ContentLength: bytes.length,
            Metadata: { 'met-rows': '20', 'met-checksum': staged.checksum },
            IfNoneMatch: '*',
          }),
          { abortSignal: abort.signal },
        ),
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await dying.unitStatus(target)).state, 'missing', 'a cut upload leaves no object');
      const retry = host('j');
      const w = await retry.writeShard(target, rowsOf('u5', 5));
      assert.equal(w.alreadyDone, false);
      assert.equal((await retry.listShards(CORPUS, 'samples')).filter((s) => s.name === 'part-u5.parquet').length, 1);
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    });

    test('readers: a fresh cache syncs the tree by checksum, reads like a folder, and follows deletions', async () => {
      const reader = host('r');
      const root = await reader.readRoot(CORPUS);
      assert.deepEqual({ ...reader.lastSync, cached: 0 }, { shards: 4, downloaded: 4, cached: 0, removed: 0 });
      const stats = await corpusStats(duck, root, CORPUS);
      assert.equal(stats.rows.samples, 80);
      assert.equal(stats.duplicateKeys, 0);
      await reader.readRoot(CORPUS);
      assert.deepEqual(reader.lastSync, { shards: 4, downloaded: 0, cached: 4, removed: 0 });
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'team/x/corpus/c1/samples/model=org%2Fm/source=api/part-u4.parquet' }));
      await reader.readRoot(CORPUS);
      assert.equal(reader.lastSync.removed, 1);
      assert.equal((await corpusStats(duck, root, CORPUS)).rows.samples, 60);
      assert.equal(existsSync(join(root, 'corpus', CORPUS, 'samples', 'model=org%2Fm', 'source=api', 'part-u4.parquet')), false);
      await assert.rejects(reader.readRoot('nothing-here'), /no corpus 'nothing-here' at s3:\/\/fleet-unit\/team\/x/);
    });

    test('met corpus verify --data s3://...: the bucket corpus verifies, and an object without met metadata is reported', async () => {
      const scratch = mkdtempSync(join(tmpdir(), 'met-fleet-verify-'));
      dirs.push(scratch);
      const env = {
        AWS_ENDPOINT_URL: store.endpoint,
        AWS_ACCESS_KEY_ID: store.accessKeyId,
        AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
        AWS_REGION: 'us-east-1',
        MET_SCRATCH: scratch,
      };
      const verify = async () => {
        const child = spawnMet(['corpus', 'verify', CORPUS, '--data', `s3://${BUCKET}/team/x`], env, scratch);
        return { code: await exited(child), output: child.output() };
      };
      const clean = await verify();
      assert.equal(clean.code, 0, clean.output);
      assert.match(clean.output, /corpus c1: 3 shards, 60 rows checked/);
      const key = 'team/x/corpus/c1/samples/model=org%2Fm/source=api/part-u9.parquet';
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'not met' }));
      const dirty = await verify();
      assert.equal(dirty.code, 1, dirty.output);
      assert.match(
        dirty.output,
        /CORRUPT samples s3:\/\/fleet-unit\/team\/x\/corpus\/c1\/samples\/model=org%2Fm\/source=api\/part-u9\.parquet: no met-rows\/met-checksum metadata/,
      );
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    });

    test('a report folder written on one host is published beside the runs in the bucket (reports/<run>/), every file with its content type', async () => {
      const a = host('report-a');
      const dir = mkdtempSync(join(tmpdir(), 'met-fleet-report-'));
      dirs.push(dir);
      mkdirSync(join(dir, 'figures'), { recursive: true });
      writeFileSync(join(dir, 'index.html'), '<html>power</html>');
      writeFileSync(join(dir, 'figures', 'power.svg'), '<svg/>');
      writeFileSync(join(dir, 'data.json'), '{"cells":[]}');
      assert.equal(await a.publishFiles('reports/grid-1', dir), `s3://${BUCKET}/team/x/reports/grid-1`);
      const page = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'team/x/reports/grid-1/index.html' }));
      assert.equal(page.ContentType, 'text/html; charset=utf-8');
      assert.equal(await page.Body!.transformToString('utf8'), '<html>power</html>');
      const svg = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'team/x/reports/grid-1/figures/power.svg' }));
      assert.equal(await svg.Body!.transformToString('utf8'), '<svg/>');
      const objects = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'team/x/reports/grid-1/' }));
      assert.deepEqual(objects.Contents?.map((o) => o.Key).sort(), [
        'team/x/reports/grid-1/data.json',
        'team/x/reports/grid-1/figures/power.svg',
        'team/x/reports/grid-1/index.html',
      ]);
      // What the HTTP API serves on a host without the worker's copy: the page, through the AWS environment.
      const saved = { ...process.env };
      Object.assign(process.env, {
        AWS_ENDPOINT_URL: store.endpoint,
        AWS_ACCESS_KEY_ID: store.accessKeyId,
        AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
        AWS_REGION: 'us-east-1',
      });
      try {
        const at = { dataDir: dir, corpora: `s3://${BUCKET}/team/x` };
        assert.equal(await readPublishedReport(at, 'grid-1'), '<html>power</html>');
        assert.equal(await readPublishedReport(at, 'grid-2'), undefined);
      } finally {
        for (const key of ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
          if (saved[key] === undefined) delete process.env[key];
          else process.env[key] = saved[key];
        }
      }
    });
  });
