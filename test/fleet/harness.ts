import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { CorpusStats } from '../../datasets/corpus';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { writeTinyModels } from '../../models/tiny';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { ensurePythonTools, PROJECT } from '../datasets/helpers';
import { startObjectStore, type ObjectStore, type ObjectStoreKind } from '../helpers/objectStore';
import { exited, spawnMet, waitUntil } from '../helpers/processes';

/**
 * A worker fleet on one machine, for test/fleet and bench/fleet: worker "hosts" are separate
 * `met worker` processes, each with its own local folder (MET_SCRATCH), sharing nothing but the
 * Temporal server and an S3-compatible server on loopback: moto, or SeaweedFS (a real object store,
 * test/helpers/objectStore.ts). Two `met serve` endpoints (the
 * server code of `met serve`, in this process) are the two sources; a tiny GGUF model loaded by
 * every host is the scorer. One pipeline = collect (2 sources) then score, launched by a
 * "launcher" process with a local folder of its own.
 */
export interface FleetEnv {
  root: string;
  address: string;
  namespace: string;
  /** The S3 server the bucket is on, its endpoint and keys. */
  store: ObjectStore;
  bucket: string;
  serves: RunningServe[];
  modelPath: string;
  client: Client;
  s3: S3Client;
  close(): Promise<void>;
}

export async function startFleetEnv(options: { temporalAddress?: string; latencyMs?: number; store?: ObjectStoreKind } = {}): Promise<FleetEnv> {
  const root = mkdtempSync(join(tmpdir(), 'met-fleet-'));
  let ownTemporal: string | undefined;
  let address = options.temporalAddress;
  if (!address) {
    ownTemporal = join(root, 'temporal');
    const port = await freePort();
    await startDevServer({ dataDir: ownTemporal, port, headless: true });
    address = `127.0.0.1:${port}`;
  }
  const store = await startObjectStore(options.store ?? 'moto');
  const s3 = store.client();
  const bucket = 'met-fleet';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  // Two providers: small latency and a few 429s/500s, as a real API has.
  const faults = { latencyMs: options.latencyMs ?? 5, fail429: 0.01, fail500: 0.005 };
  const serves = [
    await startServe({ backend: new TextGeneratorBackend(), faults, seed: 1 }),
    await startServe({ backend: new TextGeneratorBackend(), faults, seed: 2 }),
  ];
  const modelPath = writeTinyModels(join(root, 'models')).fp32;
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'met' });
  return {
    root,
    address,
    namespace: 'met',
    store,
    bucket,
    serves,
    modelPath,
    client,
    s3,
    async close() {
      await connection.close();
      s3.destroy();
      for (const s of serves) await s.close();
      await store.stop();
      if (ownTemporal) await stopDevServer(ownTemporal);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The environment of a met process on a "host" with local folder `scratch` and data `data` (a folder or s3://). */
export function hostEnv(env: FleetEnv, scratch: string, data: string): NodeJS.ProcessEnv {
  return {
    MET_DATA: data,
    MET_SCRATCH: scratch,
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: env.namespace,
    AWS_ENDPOINT_URL: env.store.endpoint,
    AWS_ACCESS_KEY_ID: env.store.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.store.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
}

export interface PipelineOptions {
  label: string;
  hosts: number;
  /** 's3': the corpus in the bucket; 'local': one host's own folder (the single-host baseline). */
  storage: 's3' | 'local';
  prompts: number;
  samplesPerPrompt: number;
  unitSize: number;
  /** SIGKILL this host (0-based) while it holds a sampling unit. */
  killHost?: number;
  log?: (line: string) => void;
}

export interface PipelineResult {
  corpus: string;
  data: string;
  samples: number;
  collectRunId: string;
  scoreRunId: string;
  collectSeconds: number;
  scoreSeconds: number;
  /** Sampling units the killed host held when it died (they were retried elsewhere). */
  killedUnits: string[];
  /** Host folders, for checks that nothing was shared. */
  hostDirs: string[];
  /** The killed host's folder (undefined: none was killed). */
  killedHostDir?: string;
  launcherEnv: NodeJS.ProcessEnv;
}

type Host = ReturnType<typeof spawnMet> & { dir: string };

export async function runPipeline(env: FleetEnv, o: PipelineOptions): Promise<PipelineResult> {
  const log = o.log ?? (() => {});
  const tag = `${o.label}-${process.pid}-${Date.now().toString(36)}`;
  const corpus = `fleet-${tag}`.replace(/[^A-Za-z0-9._-]/g, '-');
  const base = join(env.root, tag);
  const data = o.storage === 's3' ? `s3://${env.bucket}/${tag}` : join(base, 'host-0', 'data');
  const cpuQueue = `fleet-cpu-${tag}`;
  const providers = [`fleet-p1-${tag}`, `fleet-p2-${tag}`];
  const scorer = `tiny-${tag}`;
  const workerConfig = join(base, 'workers.yaml');
  const spec = join(base, 'spec.yaml');
  mkdirSync(base, { recursive: true });
  writeFileSync(workerConfig, stringify({ providers: providers.map((name, i) => ({ name, baseURL: env.serves[i].url, concurrentUnits: 4 })) }));
  writeFileSync(
    spec,
    stringify({
      corpus,
      prompts: { set: 'demo', limit: o.prompts },
      samplesPerPrompt: o.samplesPerPrompt,
      sampling: { maxTokens: 8 },
      sources: providers.map((provider, i) => ({ kind: 'provider', provider, model: `m${i + 1}`, concurrency: 8 })),
      unitSize: o.unitSize,
      window: 4 * o.hosts,
      // A killed host's units are retried elsewhere after this.
      heartbeatTimeoutSeconds: 4,
    }),
  );
  const hosts: Host[] = [];
  const start = (i: number): Host => {
    const dir = join(base, `host-${i}`);
    mkdirSync(dir, { recursive: true });
    const child = spawnMet(
      ['worker', '--queue', cpuQueue, '--provider', ...providers, '--config', workerConfig, '--model', env.modelPath, '--name', scorer, '--precision', 'fp32'],
      hostEnv(env, dir, o.storage === 's3' ? data : data),
    );
    return Object.assign(child, { dir });
  };
  for (let i = 0; i < o.hosts; i++) hosts.push(start(i));
  const launcherDir = join(base, 'launcher');
  mkdirSync(launcherDir, { recursive: true });
  const launcherEnv = hostEnv(env, launcherDir, data);
  try {
    // Every host polls its queues (model loaded) before the clock starts.
    await waitUntil('every host polling', () => hosts.every((h) => (h.output().match(/worker polling/g) ?? []).length >= 4 || h.exitCode !== null), 120_000);
    const dead = hosts.find((h) => h.exitCode !== null);
    if (dead) throw new Error(`a host exited at start:\n${dead.output()}`);
    const t0 = performance.now();
    const launch = spawnMet(['collect', spec, '--queue', cpuQueue], launcherEnv, launcherDir);
    if ((await exited(launch)) !== 0) throw new Error(`met collect failed:\n${launch.output()}`);
    const collectRunId = /(?:Started|Attached to) run (\S+)/.exec(launch.output())![1];
    const handle = env.client.workflow.getHandle(`collectCorpus/${collectRunId}`);
    const killedUnits: string[] = [];
    if (o.killHost !== undefined) {
      const victim = hosts[o.killHost];
      // Only once the victim holds a unit and has made progress: it dies mid-unit, mid-run.
      await waitUntil(
        `host ${o.killHost} working on a unit`,
        async () => {
          const d = await handle.describe();
          const mine = (d.raw.pendingActivities ?? []).filter(
            (a) => a.activityType?.name === 'sampleUnit' && (a.lastWorkerIdentity ?? '').startsWith(`${victim.pid}@`) && a.heartbeatDetails,
          );
          if (mine.length === 0) return false;
          killedUnits.push(...mine.map((a) => a.activityId ?? '?'));
          return true;
        },
        120_000,
      );
      victim.kill('SIGKILL');
      await exited(victim);
      log(`SIGKILLed host ${o.killHost} (pid ${victim.pid}) holding ${killedUnits.length} unit(s): ${killedUnits.join(', ')}`);
    }
    const collected = (await withDeadline(handle.result(), 600_000, async () => `collection did not finish:\n${await pendingOf(handle)}`)) as { rows: number };
    const collectSeconds = (performance.now() - t0) / 1000;
    log(`${o.label}: collected ${collected.rows} rows in ${collectSeconds.toFixed(1)} s`);

    const t1 = performance.now();
    const score = spawnMet(
      ['score', corpus, '--scorer', `${scorer}/fp32`, '--queue', cpuQueue, '--window', String(4 * o.hosts), '--heartbeat-timeout', '10s'],
      launcherEnv,
      launcherDir,
    );
    if ((await exited(score)) !== 0) throw new Error(`met score failed:\n${score.output()}`);
    const scoreRunId = /(?:Started|Attached to) run (\S+)/.exec(score.output())![1];
    const record = { workflowId: `scoreCorpus/${scoreRunId}` };
    const scoreHandle = env.client.workflow.getHandle(record.workflowId);
    await withDeadline(scoreHandle.result(), 600_000, async () => `scoring did not finish:\n${await pendingOf(scoreHandle)}`);
    const scoreSeconds = (performance.now() - t1) / 1000;
    log(`${o.label}: scored in ${scoreSeconds.toFixed(1)} s`);
    return {
      corpus,
      data,
      samples: collected.rows,
      collectRunId,
      scoreRunId,
      collectSeconds,
      scoreSeconds,
      killedUnits,
      hostDirs: hosts.map((h) => h.dir),
      killedHostDir: o.killHost === undefined ? undefined : hosts[o.killHost].dir,
      launcherEnv,
    };
  } finally {
    for (const h of hosts) if (h.exitCode === null && h.signalCode === null) h.kill('SIGTERM');
    await Promise.all(hosts.map((h) => exited(h)));
  }
}

async function pendingOf(handle: ReturnType<Client['workflow']['getHandle']>): Promise<string> {
  const d = await handle.describe();
  return [
    `status ${d.status.name}`,
    ...(d.raw.pendingActivities ?? []).map((a) =>
      JSON.stringify({ id: a.activityId, attempt: a.attempt, lastFailure: a.lastFailure?.message, worker: a.lastWorkerIdentity }),
    ),
  ].join('\n');
}

async function withDeadline<T>(p: Promise<T>, ms: number, why: () => Promise<string>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  const r = await Promise.race([p, late]).finally(() => clearTimeout(timer));
  if (r === 'late') throw new Error(await why());
  return r;
}

/** `met ARGS` in a fresh "host" (its own empty local folder and cache); returns stdout's JSON and the output. */
export async function metJson(env: FleetEnv, data: string, args: string[]): Promise<{ json: unknown; output: string }> {
  const dir = mkdtempSync(join(env.root, 'fresh-host-'));
  const child = spawnMet([...args, '--json'], { ...hostEnv(env, dir, data), MET_CACHE: join(dir, 'cache') }, dir);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  const code = await exited(child);
  if (code !== 0) throw new Error(`met ${args.join(' ')} failed (${code}):\n${child.output()}`);
  return { json: JSON.parse(stdout) as unknown, output: child.output() };
}

/** Rows and distinct keys of a bucket corpus: objects fetched from the bucket (boto3), parsed by pyarrow. */
export function pyarrowCounts(
  env: FleetEnv,
  data: string,
  corpus: string,
): { samples: number; sampleKeys: number; logprobs: number; logprobKeys: number; files: number } {
  const { python, pyarrowPath, motoPath } = ensurePythonTools();
  const r = spawnSync(python, [join(PROJECT, 'test', 'fleet', 'pyarrow_s3.py'), env.store.endpoint, data, corpus], {
    encoding: 'utf8',
    env: {
      ...process.env,
      PYTHONPATH: [pyarrowPath, motoPath].join(':'),
      AWS_ACCESS_KEY_ID: env.store.accessKeyId,
      AWS_SECRET_ACCESS_KEY: env.store.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  });
  if (r.status !== 0) throw new Error(`pyarrow_s3.py failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as ReturnType<typeof pyarrowCounts>;
}

/** The checks of a fleet run: objects per unit, met corpus stats from a fresh host, pyarrow from the bucket, met runs/status elsewhere, nothing shared on hosts' disks. */
export async function checkFleetRun(env: FleetEnv, r: PipelineResult, expected: { samples: number; prompts: number; shardsPerKind: number }): Promise<void> {
  const N = expected.samples;
  // Exactly one object per unit, and one logprob shard per sample shard.
  const prefix = `${r.data.slice(`s3://${env.bucket}/`.length)}/corpus/${r.corpus}/`;
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await env.s3.send(new ListObjectsV2Command({ Bucket: env.bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!.slice(prefix.length)));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  assert.equal(keys.filter((k) => k.startsWith('samples/')).length, expected.shardsPerKind, keys.join('\n'));
  assert.equal(keys.filter((k) => k.startsWith('logprobs/')).length, expected.shardsPerKind, keys.join('\n'));

  // A fourth process, empty local folder and cache: met corpus stats from the bucket.
  const { json, output } = await metJson(env, r.data, ['corpus', 'stats', r.corpus]);
  const stats = json as CorpusStats;
  assert.match(output, new RegExp(`${2 * expected.shardsPerKind + 1} downloaded, 0 cached`)); // the shards and the frozen prompt set
  assert.equal(stats.rows.samples, N);
  assert.equal(stats.rows.logprobs, N);
  assert.equal(stats.duplicateKeys, 0);
  assert.deepEqual(
    stats.samples.map((s) => [s.model, s.rows, s.prompts, s.incompletePrompts]),
    [
      ['m1', N / 2, expected.prompts, 0],
      ['m2', N / 2, expected.prompts, 0],
    ],
  );
  assert.equal(stats.logprobs.length, 1);
  assert.equal(stats.logprobs[0].rows, N);
  assert.equal(stats.logprobs[0].samplesCovered, N);

  // pyarrow, straight from the bucket.
  assert.deepEqual(pyarrowCounts(env, r.data, r.corpus), { samples: N, sampleKeys: N, logprobs: N, logprobKeys: N, files: 2 * expected.shardsPerKind });

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
    const shards = existsSync(staged)
      ? readdirSync(staged, { recursive: true }).filter((f) => String(f).endsWith('.parquet') && String(f).split('/').pop()!.startsWith('part-'))
      : [];
    // A SIGKILL between a unit's staging and its upload leaves that staged shard on the dead host
    // (by design: that host's retry would upload it); another host committed the unit. Only the
    // units the killed host held may be left there, and nowhere else.
    const held = new Set(r.killedUnits.map(Number));
    const left = dir === r.killedHostDir ? shards.filter((f) => !held.has(Number(/part-(\d+)-/.exec(String(f))?.[1]))) : shards;
    assert.deepEqual(left, [], `${dir} kept staged shards${dir === r.killedHostDir ? ` of units it did not hold (${r.killedUnits.join(', ')})` : ''}`);
    assert.equal(existsSync(join(dir, 'corpus')), false);
  }
}
