import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parseDataLocation } from '../../common/location';
import { BucketCorpora } from '../../datasets/corpora';
import { corpusStats } from '../../datasets/corpus';
import { createDuckDB, type DuckDBInstance } from '../../datasets/duck';
import { writeShard } from '../../datasets/shards';
import { syntheticSamples } from '../../datasets/synthetic';
import { startMoto } from '../datasets/helpers';

/**
 * Issue #28: a host with a warm cache must not trust an object's metadata. An object whose metadata
 * copies another shard's (rows, checksum) but whose bytes differ is refused by a warm host as by a
 * cold one, left out with a warning (the rest of the corpus reads), and the two hosts agree.
 */
const BUCKET = 'forged';
const CORPUS = 'c1';
const PREFIX = 'team/y';
const partition = { model: 'org/m', source: 'api' };
const keyOf = (unit: string) => `${PREFIX}/corpus/${CORPUS}/samples/model=org%2Fm/source=api/part-${unit}.parquet`;
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

let moto: Awaited<ReturnType<typeof startMoto>>;
let client: S3Client;
let duck: DuckDBInstance;
const dirs: string[] = [];
function host(name: string): BucketCorpora {
  const dir = mkdtempSync(join(tmpdir(), `met-forged-${name}-`));
  dirs.push(dir);
  const location = parseDataLocation(`s3://${BUCKET}/${PREFIX}`);
  if (location.kind !== 's3') throw new Error('s3');
  return new BucketCorpora(duck, client, location, join(dir, 'scratch'), join(dir, 'cache'));
}
before(async () => {
  moto = await startMoto();
  client = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  duck = await createDuckDB();
});
after(async () => {
  client?.destroy();
  await moto?.stop();
  duck?.closeSync();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test(
  'a forged object (copied metadata, other content) is refused by a warm-cache host and a cold one alike; both read the same rows',
  { timeout: 120_000 },
  async () => {
    const writer = host('writer');
    for (const [i, unit] of ['u1', 'u2'].entries()) await writer.writeShard({ corpus: CORPUS, kind: 'samples', partition, unitId: unit }, rowsOf(unit, i + 1));
    // A warm host: it has read the corpus, so u1's bytes sit in its cache under u1's checksum.
    const warm = host('warm');
    const warmRoot = await warm.readRoot(CORPUS);
    assert.equal((await corpusStats(duck, warmRoot, CORPUS)).rows.samples, 40);

    // The forgery: u3's own (valid, other) rows under u1's metadata.
    const scratch = mkdtempSync(join(tmpdir(), 'met-forged-src-'));
    dirs.push(scratch);
    const other = await writeShard(duck, scratch, { corpus: CORPUS, kind: 'samples', partition, unitId: 'u3' }, rowsOf('u3', 3));
    const u1 = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: keyOf('u1') }));
    assert.notEqual(other.checksum, u1.Metadata?.['met-checksum']);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: keyOf('u3'), Body: readFileSync(other.path), Metadata: u1.Metadata }));

    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (line: string) => void warnings.push(line);
    try {
      await warm.readRoot(CORPUS);
      const warmStats = await corpusStats(duck, warmRoot, CORPUS);
      const cold = host('cold');
      const coldStats = await corpusStats(duck, await cold.readRoot(CORPUS), CORPUS);
      // Before: the warm host linked u1's cached bytes for u3 (60 rows, 20 keys twice); the cold one refused the corpus.
      assert.deepEqual([warmStats.rows.samples, warmStats.duplicateKeys], [40, 0]);
      assert.deepEqual([coldStats.rows.samples, coldStats.duplicateKeys], [40, 0]);
      for (const h of [warm, cold]) {
        assert.deepEqual([...h.quarantined.keys()], [`s3://${BUCKET}/${keyOf('u3')}`]);
        assert.match(h.quarantined.get(`s3://${BUCKET}/${keyOf('u3')}`)!, /does not match its metadata/);
      }
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.match(
        warnings[0],
        /met: warning: left out s3:\/\/forged\/team\/y\/corpus\/c1\/samples\/model=org%2Fm\/source=api\/part-u3\.parquet does not match its metadata/,
      );
      // The warm host's verified objects stay cached: only the new object was downloaded.
      await warm.readRoot(CORPUS);
      assert.equal(warm.lastSync.cached, 2);
    } finally {
      console.warn = warn;
    }
  },
);
