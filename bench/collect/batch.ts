/**
 * bench/collect/batch: a 10,000-sample run through the Batch API (/v1/files + /v1/batches) against
 * `met serve` in its own process: one batch per work unit (workflow batchUnit: upload, poll on
 * durable timers, download, journal, shard), then a check that the corpus holds exactly 10,000 rows,
 * each (prompt, sample) once, and that every sample came from a batch (no online request).
 *
 *   node --import tsx bench/collect/batch.ts [--samples 10000] [--unit 2000] [--batch-latency-ms 1000]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { createDuckDB, quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { workflowBundle } from '../../workers/bundle';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { collectCorpus } from '../../workflows/collectCorpus';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '10000' },
    unit: { type: 'string', default: '2000' },
    'batch-latency-ms': { type: 'string', default: '1000' },
  },
});
const promptsCount = 40; // the shipped demo set
const samplesPerPrompt = Math.ceil(Number(values.samples) / promptsCount);
const expected = samplesPerPrompt * promptsCount;
const unitSize = Number(values.unit);

Runtime.install({ logger: new DefaultLogger('WARN') });
const serveOptions = { batch: { latencyMs: Number(values['batch-latency-ms']), concurrency: 32 } };
const serveProcess = spawn(process.execPath, ['--import', 'tsx', new URL('./serve-process.ts', import.meta.url).pathname, JSON.stringify(serveOptions)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url: string = await new Promise((resolve) => serveProcess.stdout.once('data', (d) => resolve(String(d).trim())));

const dataDir = mkdtempSync(join(tmpdir(), 'met-bench-batch-'));
const port = await freePort();
await startDevServer({ dataDir, port, headless: true });
const address = `127.0.0.1:${port}`;
const duck = await createDuckDB();
try {
  const spec = parseRunSpec({
    corpus: 'bench-batch',
    prompts: { set: 'demo' },
    samplesPerPrompt,
    sampling: { maxTokens: 16 },
    sources: [{ kind: 'provider', provider: 'bench', model: 'm1', batch: { pollSeconds: 1, maxPollSeconds: 5 } }],
    unitSize,
    window: 8,
  });
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'met' });
  const bundle = await workflowBundle();
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue: 'bench-cpu' }),
    ...providerWorkerPlans({ dataDir, duck, env: {}, providers: [{ name: 'bench', baseURL: url, concurrentUnits: 8, timeoutMs: 60_000 }] }),
  ];
  const workers = await Promise.all(
    plans.map((p) =>
      Worker.create({
        connection: nativeConnection,
        namespace: 'met',
        taskQueue: p.taskQueue,
        activities: p.activities,
        workflowBundle: p.workflows ? bundle : undefined,
        ...p.options,
      }),
    ),
  );
  const t0 = performance.now();
  const handle = await client.workflow.start(collectCorpus, {
    taskQueue: 'bench-cpu',
    workflowId: `bench-batch-${Date.now()}`,
    args: [{ spec, runId: runIdOf(spec) }],
  });
  const running = workers.map((w) => w.run());
  const result = await handle.result();
  const seconds = (performance.now() - t0) / 1000;
  workers.forEach((w) => w.shutdown());
  await Promise.all(running);
  const history = await handle.fetchHistory();
  const children = (history.events ?? []).filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name === 'batchUnit').length;
  await nativeConnection.close();
  await connection.close();

  const counted = await withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT count(*)::BIGINT AS n, count(DISTINCT (prompt_id, sample_index))::BIGINT AS keys, count(DISTINCT unit_id)::BIGINT AS units
       FROM read_parquet(${quotedString(join(kindDir(dataDir, spec.corpus, 'samples'), '*', '*', 'part-*.parquet'))}, hive_partitioning = true)`,
    );
    const row = r.getRowObjects()[0];
    return { rows: Number(row.n), keys: Number(row.keys), units: Number(row.units) };
  });
  const stats = (await (await fetch(url.replace(/\/v1$/, '/stats'))).json()) as {
    served: number;
    requests: number;
    batches: { created: number; requests: number; downloads: number };
  };
  const report = {
    bench: 'collect-batch',
    expected,
    rows: counted.rows,
    distinctKeys: counted.keys,
    shards: counted.units,
    batchUnitWorkflows: children,
    batchesCreated: stats.batches.created,
    batchRequests: stats.batches.requests,
    outputDownloads: stats.batches.downloads,
    requestsServed: stats.served,
    seconds: Number(seconds.toFixed(2)),
    samplesPerSecond: Math.round(result.rows / seconds),
    exact: counted.rows === expected && counted.keys === expected && result.rows === expected,
  };
  console.log(JSON.stringify(report, null, 2));
  console.log(
    report.exact
      ? `OK: exactly ${expected} rows, each sample once, via ${stats.batches.created} batches`
      : `MISMATCH: ${counted.rows} rows, ${counted.keys} distinct keys, expected ${expected}`,
  );
  mkdirSync('bench/out', { recursive: true });
  writeFileSync(`bench/out/collect-batch-${Date.now()}.json`, JSON.stringify(report, null, 2));
  if (!report.exact) process.exitCode = 1;
} finally {
  duck.closeSync();
  serveProcess.kill('SIGTERM');
  await stopDevServer(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
}
