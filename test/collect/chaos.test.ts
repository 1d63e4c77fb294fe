import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { createDuckDB, quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { startServe, type RunningServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { uniqueName } from '../helpers/temporal';

/**
 * Exactly once under chaos, through the real CLI: `met collect`, SIGKILL of the worker three
 * times at random moments, a restart of the Temporal server, then a terminated run finished by
 * `met resume`. Every run ends with exactly one row per (model, source, prompt, sample index).
 */
const dataDir = mkdtempSync(join(tmpdir(), 'met-chaos-'));
let duck: DuckDBInstance;
let serve: RunningServe;
let address: string;
let port: number;

before(async () => {
  duck = await createDuckDB();
  serve = await startServe({ backend: new TextGeneratorBackend(), faults: { latencyMs: 25, fail429: 0.05, retryAfter: 0.05, fail500: 0.02 } });
  port = await freePort();
  address = `127.0.0.1:${port}`;
  await startDevServer({ dataDir, port, headless: true });
});
after(async () => {
  await stopDevServer(dataDir);
  await serve?.close();
  duck?.closeSync();
  rmSync(dataDir, { recursive: true, force: true });
});

function writeSpec(corpus: string, provider: string, samplesPerPrompt: number): string {
  const path = join(dataDir, `${corpus}.yaml`);
  writeFileSync(
    path,
    stringify({
      corpus,
      prompts: { set: 'demo', limit: 20 },
      samplesPerPrompt,
      sampling: { maxTokens: 12 },
      sources: [
        { kind: 'provider', provider, model: 'm1', concurrency: 8 },
        { kind: 'provider', provider, model: 'm2', concurrency: 8 },
      ],
      unitSize: 100,
      window: 3,
      // A killed worker's units are retried after this (60 s by default).
      heartbeatTimeoutSeconds: 4,
    }),
  );
  return path;
}

/** The provider's endpoint lives in the worker's config (a run spec cannot set it). */
function writeWorkerConfig(provider: string): string {
  const path = join(dataDir, `${provider}-workers.yaml`);
  writeFileSync(path, stringify({ providers: [{ name: provider, baseURL: serve.url }] }));
  return path;
}

async function rows(corpus: string) {
  return withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT count(*)::BIGINT AS n, count(DISTINCT (model, source, prompt_id, sample_index))::BIGINT AS k FROM read_parquet(${quotedString(join(kindDir(dataDir, corpus, 'samples'), '*', '*', 'part-*.parquet'))}, hive_partitioning = true)`,
    );
    const o = r.getRowObjects()[0];
    return { rows: Number(o.n), keys: Number(o.k) };
  });
}

const metEnv = () => ({ MET_DATA: dataDir, TEMPORAL_ADDRESS: address });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runCli(args: string[]): Promise<string> {
  const child = spawnMet(args, metEnv());
  const code = await exited(child);
  assert.equal(code, 0, `met ${args.join(' ')} failed:\n${child.output()}`);
  return child.output();
}

test('three SIGKILLs of the worker and a server restart lose and duplicate nothing', { timeout: 300_000 }, async (t) => {
  const provider = uniqueName('chaos');
  const spec = writeSpec('chaos', provider, 100); // 2 sources x 20 prompts x 100 = 4,000 samples
  const workerArgs = ['worker', '--queue', 'met-cpu', '--provider', provider, '--config', writeWorkerConfig(provider)];
  let worker = spawnMet(workerArgs, metEnv());
  const out = await runCli(['collect', spec]);
  const runId = /run (\S+)/.exec(out)![1];
  const onDisk = async () => (await rows('chaos').catch(() => ({ rows: 0 }))).rows;

  // Each kill lands while the worker is collecting: after it has committed new shards, at a random
  // moment inside the units that follow.
  let before = 0;
  for (let kill = 1; kill <= 3; kill++) {
    await waitUntil(`progress before kill ${kill}`, async () => before >= 4000 || (await onDisk()) > before, 120_000);
    await sleep(Math.random() * 600);
    worker.kill('SIGKILL');
    await exited(worker);
    before = await onDisk();
    t.diagnostic(`kill ${kill} at ${before} rows on disk`);
    if (kill === 2) {
      await stopDevServer(dataDir);
      await startDevServer({ dataDir, port, headless: true });
    }
    worker = spawnMet(workerArgs, metEnv());
  }
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'met' });
  const handle = client.workflow.getHandle(`collectCorpus/${runId}`);
  try {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 150_000)));
    const result = await Promise.race([handle.result(), deadline]).finally(() => clearTimeout(timer));
    if (!result) assert.fail(`the run did not finish:\n${await describeRun(handle)}\nlast worker:\n${worker.output()}`);
    assert.equal(result.rows, 4000);
    assert.deepEqual(await rows('chaos'), { rows: 4000, keys: 4000 });
  } finally {
    await connection.close();
    worker.kill('SIGTERM');
    await exited(worker);
  }
});

/** What a stuck run is waiting for: its pending activities with attempts and last failures. */
async function describeRun(handle: ReturnType<Client['workflow']['getHandle']>): Promise<string> {
  const d = await handle.describe();
  const pending = d.raw.pendingActivities ?? [];
  return [
    `status ${d.status.name}, run ${d.runId}`,
    ...pending.map((a) =>
      JSON.stringify({ id: a.activityId, state: a.state, attempt: a.attempt, lastFailure: a.lastFailure?.message, lastWorker: a.lastWorkerIdentity }),
    ),
  ].join('\n');
}

test('met resume finishes a terminated run from the shards on disk', { timeout: 300_000 }, async () => {
  const provider = uniqueName('resume');
  const spec = writeSpec('resumed', provider, 60); // 2,400 samples
  const workerArgs = ['worker', '--queue', 'met-cpu', '--provider', provider, '--config', writeWorkerConfig(provider)];
  const worker = spawnMet(workerArgs, metEnv());
  try {
    const out = await runCli(['collect', spec]);
    const runId = /run (\S+)/.exec(out)![1];
    const connection = await Connection.connect({ address });
    const client = new Client({ connection, namespace: 'met' });
    const handle = client.workflow.getHandle(`collectCorpus/${runId}`);
    await waitUntil('some shards', async () => (await rows('resumed').catch(() => ({ rows: 0 }))).rows >= 300, 60_000);
    await handle.terminate('simulated failure');
    const partial = await rows('resumed');
    assert.ok(partial.rows < 2400, `terminated before the end (${partial.rows})`);
    const resumed = await runCli(['resume', runId, '--wait']);
    assert.match(resumed, /Resumed run/);
    assert.match(resumed, /completed/);
    assert.deepEqual(await rows('resumed'), { rows: 2400, keys: 2400 });
    await connection.close();
  } finally {
    worker.kill('SIGTERM');
    await exited(worker);
  }
});
