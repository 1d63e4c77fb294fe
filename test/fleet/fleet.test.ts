import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { CorpusStats } from '../../datasets/corpus';
import { metJson, pyarrowCounts, runPipeline, startFleetEnv, type FleetEnv } from './harness';

/**
 * The fleet, end to end: three `met worker` hosts (separate processes, separate local folders,
 * sharing only Temporal and a moto S3 server) collect from two `met serve` sources and score with
 * a tiny model; one host is SIGKILLed while it holds a unit. The bucket ends with exactly N
 * sample rows and N logprob rows, read back by `met corpus stats` in a fresh process with an empty
 * cache and by pyarrow from the bucket; `met runs` / `met status` work from a host that did not
 * launch the runs. bench/fleet runs the same with 20,000 samples and times it.
 */
const PROMPTS = 40;
const PER_PROMPT = 25; // 2 sources x 40 prompts x 25 = 2,000 samples
const N = 2 * PROMPTS * PER_PROMPT;
let env: FleetEnv;

before(async () => {
  env = await startFleetEnv({ temporalAddress: process.env.MET_TEST_TEMPORAL_ADDRESS });
});
after(async () => {
  await env?.close();
});

test('three hosts, one SIGKILLed mid-unit: exactly N samples and N logprobs in the bucket, readable from any host', { timeout: 300_000 }, async (t) => {
  const r = await runPipeline(env, { label: 'test', hosts: 3, storage: 's3', prompts: PROMPTS, samplesPerPrompt: PER_PROMPT, unitSize: 100, killHost: 2, log: (l) => t.diagnostic(l) });
  assert.ok(r.killedUnits.length >= 1, 'the killed host held a unit');
  assert.equal(r.samples, N);

  // Exactly one object per unit: 2 sources x 1,000 / 100 = 20 sample shards, and as many logprob shards.
  const prefix = `${r.data.slice(`s3://${env.bucket}/`.length)}/corpus/${r.corpus}/`;
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await env.s3.send(new ListObjectsV2Command({ Bucket: env.bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!.slice(prefix.length)));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  assert.equal(keys.filter((k) => k.startsWith('samples/')).length, 20, keys.join('\n'));
  assert.equal(keys.filter((k) => k.startsWith('logprobs/')).length, 20, keys.join('\n'));

  // A fourth process, empty local folder and cache: met corpus stats from the bucket.
  const { json, output } = await metJson(env, r.data, ['corpus', 'stats', r.corpus]);
  const stats = json as CorpusStats;
  assert.match(output, /41 downloaded, 0 cached/); // 20 + 20 shards and the frozen prompt set
  assert.equal(stats.rows.samples, N);
  assert.equal(stats.rows.logprobs, N);
  assert.equal(stats.duplicateKeys, 0);
  assert.deepEqual(stats.samples.map((s) => [s.model, s.rows, s.prompts, s.incompletePrompts]), [
    ['m1', N / 2, PROMPTS, 0],
    ['m2', N / 2, PROMPTS, 0],
  ]);
  assert.equal(stats.logprobs.length, 1);
  assert.equal(stats.logprobs[0].rows, N);
  assert.equal(stats.logprobs[0].samplesCovered, N);

  // pyarrow, straight from the bucket.
  assert.deepEqual(pyarrowCounts(env, r.data, r.corpus), { samples: N, sampleKeys: N, logprobs: N, logprobKeys: N, files: 40 });

  // met runs / met status from a host that launched neither run.
  const runs = (await metJson(env, r.data, ['runs'])).json as { runId: string; job: string; status: string | null }[];
  assert.deepEqual(
    runs.filter((x) => x.runId === r.collectRunId || x.runId === r.scoreRunId).map((x) => [x.job, x.status]),
    [
      ['collectCorpus', 'COMPLETED'],
      ['scoreCorpus', 'COMPLETED'],
    ],
  );
  for (const runId of [r.collectRunId, r.scoreRunId]) {
    const status = (await metJson(env, r.data, ['status', runId])).json as { runId: string; status: string; corpus: string };
    assert.deepEqual([status.runId, status.status, status.corpus], [runId, 'COMPLETED', r.corpus]);
  }

  // Each host's local folder holds no committed shard and no corpus tree of its own: the bucket is the corpus.
  for (const dir of r.hostDirs) {
    const staged = join(dir, 'staging', 's3', env.bucket);
    const shards = existsSync(staged) ? readdirSync(staged, { recursive: true }).filter((f) => String(f).endsWith('.parquet') && String(f).split('/').pop()!.startsWith('part-')) : [];
    assert.deepEqual(shards, [], `${dir} kept staged shards`);
    assert.equal(existsSync(join(dir, 'corpus')), false);
  }
});
