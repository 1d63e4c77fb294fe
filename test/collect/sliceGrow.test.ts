/**
 * The newcomer's sequence that once manufactured a false accusation (issue 26): collect 30 samples
 * per prompt from an honest endpoint and a reference, then the same spec with 40. A slice is a set
 * of keys, so the second run draws indices 30..39 only: 40 distinct keys per prompt, no duplicate,
 * and the test between endpoint and reference stays consistent, with the p-value `met stat` gives
 * on the exported union. In a folder and in a bucket (moto). Also: a re-collection with another
 * temperature into the same source label is refused before any request, and `met test` on a slice
 * with duplicate keys fails naming the fix. Real Temporal, `met serve`, the `met` CLI.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import type { DuckDBInstance } from '@duckdb/node-api';
import { launchCollection } from '../../client/collect';
import type { CollectResult } from '../../collect/plan';
import { runStatInput } from '../../cli/statInput';
import { parseDataLocation } from '../../common/location';
import { parseRunSpec } from '../../config/runSpec';
import { BucketCorpora, type Corpora, LocalCorpora } from '../../datasets/corpora';
import { quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { syntheticSamples } from '../../datasets/synthetic';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { startMoto } from '../datasets/helpers';
import { useTestEnv } from '../helpers/env';
import { exited, spawnMet } from '../helpers/processes';
import { uniqueName, withPlanWorkers, type TestTemporal } from '../helpers/temporal';

let temporal: TestTemporal;
let duck: DuckDBInstance;
let serve: RunningServe;
let moto: Awaited<ReturnType<typeof startMoto>> | undefined;
let s3: S3Client | undefined;
const dataDir = useTestEnv('met-slice-grow-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    serve = await startServe({ backend: new TextGeneratorBackend(), seed: 5 });
  },
});
const scratch = mkdtempSync(join(tmpdir(), 'met-slice-grow-hosts-'));
after(async () => {
  await serve?.close();
  s3?.destroy();
  await moto?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const PROMPTS = Array.from({ length: 4 }, (_, i) => ({ id: `p${i}`, text: `Question ${i}: what is the tide?` }));
const B = 200;

async function cli(args: string[], data = dataDir, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | string; out: string }> {
  const child = spawnMet([...args, '--address', temporal.address, '--namespace', temporal.namespace, '--data', data], env);
  return { code: await exited(child), out: child.output() };
}

/** The rows of a slice as `met stat` takes them: prompts indexed in sorted id order, samples by index. */
async function exported(root: string, corpus: string, source: string): Promise<{ prompts: number[]; completions: string[] }> {
  const glob = join(kindDir(root, corpus, 'samples'), 'model=m', `source=${source}`, 'part-*.parquet');
  const rows = await withConnection(duck, async (c) =>
    (await c.runAndReadAll(`SELECT prompt_id, completion FROM read_parquet(${quotedString(glob)}) ORDER BY prompt_id, sample_index`)).getRowObjects(),
  );
  const ids = PROMPTS.map((p) => p.id).sort();
  return { prompts: rows.map((r) => ids.indexOf(String(r.prompt_id))), completions: rows.map((r) => String(r.completion)) };
}

async function keysOf(root: string, corpus: string): Promise<{ source: string; rows: number; keys: number; maxIndex: number; minPerPrompt: number }[]> {
  const glob = join(kindDir(root, corpus, 'samples'), '*', '*', 'part-*.parquet');
  return withConnection(duck, async (c) =>
    (
      await c.runAndReadAll(
        `SELECT source, sum(n)::INTEGER AS rows, sum(k)::INTEGER AS keys, max(mx)::INTEGER AS max_index, min(n)::INTEGER AS min_per_prompt FROM (
           SELECT source, prompt_id, count(*) AS n, count(DISTINCT sample_index) AS k, max(sample_index) AS mx
           FROM read_parquet(${quotedString(glob)}, hive_partitioning = true) GROUP BY source, prompt_id) GROUP BY source ORDER BY source`,
      )
    )
      .getRowObjects()
      .map((r) => ({
        source: String(r.source),
        rows: Number(r.rows),
        keys: Number(r.keys),
        maxIndex: Number(r.max_index),
        minPerPrompt: Number(r.min_per_prompt),
      })),
  );
}

async function growTwice(where: 'folder' | 'bucket'): Promise<void> {
  const corpus = uniqueName(`grow-${where}`);
  const provider = uniqueName('honest');
  const taskQueue = uniqueName('grow-cpu');
  let corpora: Corpora | undefined;
  let readRoot = async () => dataDir;
  // The CLI names where the corpora live, as on a host of the fleet: the folder, or the bucket (moto).
  let cliData: [string, NodeJS.ProcessEnv] = [dataDir, {}];
  if (where === 'bucket') {
    if (!moto) {
      moto = await startMoto();
      s3 = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
      await s3.send(new CreateBucketCommand({ Bucket: 'grow' }));
    }
    const location = parseDataLocation('s3://grow/team');
    if (location.kind !== 's3') throw new Error('s3');
    corpora = new BucketCorpora(duck, s3!, location, join(scratch, 'worker'), join(scratch, 'worker-cache'));
    // The check reads through a host of its own with an empty cache, as a colleague's machine would.
    const reader = new BucketCorpora(duck, s3!, location, join(scratch, `reader-${corpus}`), join(scratch, `reader-cache-${corpus}`));
    readRoot = () => reader.readRoot(corpus, ['samples']);
    cliData = [
      's3://grow/team',
      {
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    ];
  }
  const sources = ['ref', 'ep'].map((source) => ({ kind: 'provider', provider, model: 'm', source, baseURL: serve.url }));
  // The spec's seed fixes which draw this is. An honest pair is consistent at alpha = 0.05 with
  // probability 0.95 per draw: seed 1's p is about 0.37, seed 0's about 0.055 (b = 1000, both
  // measured while writing this test); duplicated slices gave p < 0.001 (issue 26).
  const spec = (samplesPerPrompt: number, sampling: Record<string, unknown> = {}) =>
    parseRunSpec({
      corpus,
      prompts: { inline: PROMPTS },
      samplesPerPrompt,
      unitSize: 25,
      window: 2,
      sampling: { maxTokens: 12, seed: 1, ...sampling },
      sources,
    });
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue, corpora }),
    ...providerWorkerPlans({ dataDir, duck, providers: [{ name: provider, concurrentUnits: 2, timeoutMs: 10_000, allowSpecBaseURL: true }], env: {}, corpora }),
  ];

  await withPlanWorkers(temporal, plans, async () => {
    const collect = async (s: ReturnType<typeof spec>) => {
      const { record } = await launchCollection(temporal.client, dataDir, s, taskQueue);
      return (await temporal.client.workflow.getHandle(record.workflowId).result()) as CollectResult;
    };
    const first = await collect(spec(30));
    assert.equal(first.rows, 240);
    const requestsBefore = serve.stats().requests;
    const second = await collect(spec(40));
    assert.deepEqual(
      second.sources.map((s) => [s.source, s.rows]),
      [
        ['ref', 40],
        ['ep', 40],
      ],
      'the second run drew only the 10 missing indices of each of the 4 prompts',
    );
    assert.equal(serve.stats().requests - requestsBefore, 80, 'one request per missing sample, none for samples the slice held');
    const root = await readRoot();
    assert.deepEqual(await keysOf(root, corpus), [
      { source: 'ep', rows: 160, keys: 160, maxIndex: 39, minPerPrompt: 40 },
      { source: 'ref', rows: 160, keys: 160, maxIndex: 39, minPerPrompt: 40 },
    ]);

    // The honest endpoint against the reference: consistent, exit 0, and the p-value of the union computed apart.
    const testArgs = ['test', '--x', `${corpus}:m/ref`, '--y', `${corpus}:m/ep`, '--b', String(B), '--L', '40', '--seed', '0', '--queue', taskQueue, '--json'];
    const run = await cli(testArgs, ...cliData);
    const out = JSON.parse(run.out.slice(run.out.indexOf('{'))) as { pvalue: number; value: number; n1: number; n2: number; reject: boolean; dataId: string };
    assert.equal(run.code, 0, run.out);
    assert.equal(out.reject, false, `the honest endpoint is consistent (p = ${out.pvalue})`);
    assert.deepEqual([out.n1, out.n2], [160, 160]);
    const [x, y] = [await exported(root, corpus, 'ref'), await exported(root, corpus, 'ep')];
    const apart = await runStatInput({
      L: 40,
      m: PROMPTS.length,
      unit: 'char',
      x,
      y,
      stats: ['mmd_hamming'],
      pvalue: { type: 'permutation', stat: 'mmd_hamming', b: B, seed: 0 },
    });
    assert.equal(out.value, apart.mmd_hamming, 'the statistic met stat computes on the exported rows');
    assert.equal(out.pvalue, apart.pvalue, 'the p-value met stat computes on the exported rows');

    // Another temperature into the same labels: refused before any request, naming the setting and the way out.
    const before = serve.stats().requests;
    await assert.rejects(collect(spec(50, { temperature: 0.5 })), (err: WorkflowFailedError) => {
      const cause = String(err.cause?.message ?? err.message);
      assert.match(
        cause,
        new RegExp(
          `slice ${corpus}:m/ref was sampled with other settings than this run's: temperature 1 in the slice, 0\\.5 in this run\\. Nothing was sent; give this source another label`,
        ),
      );
      return true;
    });
    assert.equal(serve.stats().requests, before, 'no request was sent');
  });
}

test('30 then 40 samples per prompt into a folder: 40 distinct keys per prompt, and the honest endpoint stays consistent', { timeout: 240_000 }, async () => {
  await growTwice('folder');
});

test('30 then 40 samples per prompt into a bucket: the same, read back by a host with an empty cache', { timeout: 240_000 }, async () => {
  await growTwice('bucket');
});

test('met test refuses a slice that holds duplicate keys (written by hand), naming the slice and the fix', { timeout: 120_000 }, async () => {
  const corpus = uniqueName('dup');
  const corpora = new LocalCorpora(duck, dataDir);
  const rows = (source: string, unitId: string, seed: number) =>
    syntheticSamples({ corpus, unitId, model: 'm', source, prompts: 4, samplesPerPrompt: 6, seed, completionChars: 20, tokens: 4 });
  await corpora.writeShard({ corpus, kind: 'samples', partition: { model: 'm', source: 'ref' }, unitId: 'r' }, rows('ref', 'r', 1));
  await corpora.writeShard({ corpus, kind: 'samples', partition: { model: 'm', source: 'ep' }, unitId: 'e1' }, rows('ep', 'e1', 2));
  await corpora.writeShard({ corpus, kind: 'samples', partition: { model: 'm', source: 'ep' }, unitId: 'e2' }, rows('ep', 'e2', 3));
  const taskQueue = uniqueName('dup-cpu');
  await withPlanWorkers(temporal, [cpuWorkerPlan({ dataDir, duck, taskQueue })], async () => {
    const r = await cli(['test', '--x', `${corpus}:m/ref`, '--y', `${corpus}:m/ep`, '--b', '50', '--queue', taskQueue]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`failed: MetDuplicateSamples: ${corpus}:m/ep \\(24 duplicate keys\\): .*Run 'met corpus verify ${corpus}' to list them`));
  });
});
