/**
 * bench/collect/nPerRequest: the same spec sampled with n = 1 and n = 8 completions per request,
 * as two sources of ONE run (same prompts, samples, window and concurrency; each source against
 * its own `met serve` process so each server's request count is that source's). Reports per source:
 * requests sent, prompt tokens billed, samples/s (rows over the span from its first to its last
 * sample), and the ratios. A per-request latency (`--latency-ms`, default 20) stands for the
 * network and the provider's queue; with 0 it measures met's and the stand-in's CPU only.
 *
 *   node --import tsx bench/collect/nPerRequest.ts [--samples 4000] [--latency-ms 20] [--concurrency 16]
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
    samples: { type: 'string', default: '4000' },
    'latency-ms': { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '16' },
  },
});
const promptsCount = 40; // the shipped demo set
const samplesPerPrompt = Math.ceil(Number(values.samples) / promptsCount);
const latencyMs = Number(values['latency-ms']);

Runtime.install({ logger: new DefaultLogger('WARN') });
async function serveProcess() {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./serve-process.ts', import.meta.url).pathname, JSON.stringify({ faults: { latencyMs } })],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url: string = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(String(d).trim())));
  return { child, url };
}
const servers = { n1: await serveProcess(), n8: await serveProcess() };

const dataDir = mkdtempSync(join(tmpdir(), 'met-bench-n-'));
const port = await freePort();
await startDevServer({ dataDir, port, headless: true });
const address = `127.0.0.1:${port}`;
const duck = await createDuckDB();
try {
  const source = (name: 'n1' | 'n8', n?: number) => ({
    kind: 'provider' as const,
    provider: `bench-${name}`,
    model: 'm1',
    source: name,
    concurrency: Number(values.concurrency),
    ...(n ? { n } : {}),
  });
  const spec = parseRunSpec({
    corpus: 'bench-n',
    prompts: { set: 'demo' },
    samplesPerPrompt,
    sampling: { maxTokens: 16 },
    sources: [source('n1'), source('n8', 8)],
    unitSize: 500,
    window: 4,
  });
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'met' });
  const bundle = await workflowBundle();
  const providers = (['n1', 'n8'] as const).map((name) => ({ name: `bench-${name}`, baseURL: servers[name].url, concurrentUnits: 4, timeoutMs: 30_000 }));
  const plans = [cpuWorkerPlan({ dataDir, duck, taskQueue: 'bench-cpu' }), ...providerWorkerPlans({ dataDir, duck, env: {}, providers })];
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
    workflowId: `bench-n-${Date.now()}`,
    args: [{ spec, runId: runIdOf(spec) }],
  });
  const running = workers.map((w) => w.run());
  const result = await handle.result();
  const wall = (performance.now() - t0) / 1000;
  workers.forEach((w) => w.shutdown());
  await Promise.all(running);
  await nativeConnection.close();
  await connection.close();

  const perSource = await withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT source, count(*)::BIGINT AS n, count(DISTINCT (prompt_id, sample_index))::BIGINT AS keys, sum(prompt_tokens)::BIGINT AS p, sum(completion_tokens)::BIGINT AS ct,
              count(DISTINCT request_id)::BIGINT AS requests, epoch_ms(max(created_at)) - epoch_ms(min(created_at)) AS span_ms
       FROM read_parquet(${quotedString(join(kindDir(dataDir, spec.corpus, 'samples'), '*', '*', 'part-*.parquet'))}, hive_partitioning = true) GROUP BY source ORDER BY source`,
    );
    return r.getRowObjects();
  });
  const row = async (name: 'n1' | 'n8') => {
    const r = perSource.find((x) => x.source === name)!;
    const stats = (await (await fetch(servers[name].url.replace(/\/v1$/, '/stats'))).json()) as { served: number };
    const seconds = Number(r.span_ms) / 1000;
    return {
      source: name,
      rows: Number(r.n),
      distinctKeys: Number(r.keys),
      requestsSent: stats.served,
      distinctRequestIds: Number(r.requests),
      promptTokensBilled: Number(r.p),
      completionTokens: Number(r.ct),
      seconds: Number(seconds.toFixed(2)),
      samplesPerSecond: Math.round(Number(r.n) / seconds),
    };
  };
  const n1 = await row('n1');
  const n8 = await row('n8');
  const report = {
    bench: 'collect-n-per-request',
    samplesPerSource: samplesPerPrompt * promptsCount,
    latencyMs,
    concurrencyPerUnit: Number(values.concurrency),
    window: 4,
    runRows: result.rows,
    runSeconds: Number(wall.toFixed(2)),
    n1,
    n8,
    requestsRatio: Number((n1.requestsSent / n8.requestsSent).toFixed(2)),
    promptTokensRatio: Number((n1.promptTokensBilled / n8.promptTokensBilled).toFixed(2)),
    samplesPerSecondRatio: Number((n8.samplesPerSecond / n1.samplesPerSecond).toFixed(2)),
  };
  console.table([n1, n8]);
  console.log(
    `n = 8 vs n = 1, same run: ${report.requestsRatio}x fewer requests, ${report.promptTokensRatio}x fewer prompt tokens billed, ${report.samplesPerSecondRatio}x the samples/s (latency ${latencyMs} ms per request)`,
  );
  mkdirSync('bench/out', { recursive: true });
  writeFileSync(`bench/out/collect-n-${Date.now()}.json`, JSON.stringify(report, null, 2));
  if (n1.rows !== n1.distinctKeys || n8.rows !== n8.distinctKeys || n1.rows !== n8.rows) process.exitCode = 1;
} finally {
  duck.closeSync();
  servers.n1.child.kill('SIGTERM');
  servers.n8.child.kill('SIGTERM');
  await stopDevServer(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
}
