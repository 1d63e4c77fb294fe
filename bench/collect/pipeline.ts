/**
 * bench/collect: samples per second through the whole pipeline (Temporal + activities + journal +
 * Parquet shards) against `met serve` with zero latency, compared in the same run with a bare loop
 * of `openai` client calls at the same concurrency against the same server.
 *
 *   node --import tsx bench/collect/pipeline.ts [--samples 20000] [--concurrency 64] [--unit 1000] [--window 4]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { NativeConnection } from '@temporalio/worker';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { openaiClient } from '../../providers/transport';
import { createDuckDB } from '../../datasets/duck';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { workflowBundle } from '../../workers/bundle';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { collectCorpus } from '../../workflows/collectCorpus';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '64' },
    unit: { type: 'string', default: '1000' },
    window: { type: 'string', default: '4' },
  },
});
const samples = Number(values.samples);
const concurrency = Number(values.concurrency);
const unitSize = Number(values.unit);
const window = Number(values.window);
const promptsCount = 40; // the shipped demo set
const samplesPerPrompt = Math.ceil(samples / promptsCount);
const total = samplesPerPrompt * promptsCount;

Runtime.install({ logger: new DefaultLogger('WARN') });
const serveProcess = spawn(process.execPath, ['--import', 'tsx', new URL('./serve-process.ts', import.meta.url).pathname], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url: string = await new Promise((resolve) => serveProcess.stdout.once('data', (d) => resolve(String(d).trim())));

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

// Baseline: a bare loop of openai calls (the default client, on Node's fetch), same server, same
// concurrency, same parameters. `transport: 'met'` runs the same loop on met's keep-alive transport.
async function bareClient(n: number, transport: 'fetch' | 'met' = 'fetch'): Promise<number> {
  const options = { apiKey: 'none', baseURL: url, maxRetries: 0 };
  const client = transport === 'met' ? openaiClient(options) : new OpenAI(options);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        await client.completions.create({ model: 'm', prompt: `prompt ${i % promptsCount}`, max_tokens: 16, temperature: 1, top_p: 1, seed: i });
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

const dataDir = mkdtempSync(join(tmpdir(), 'met-bench-collect-'));
const port = await freePort();
await startDevServer({ dataDir, port, headless: true });
const address = `127.0.0.1:${port}`;
const duck = await createDuckDB();
try {
  await bareClient(2000); // warm-up
  await bareClient(2000, 'met');
  const bareRate = await bareClient(total);
  const bareMetTransportRate = await bareClient(total, 'met');

  const spec = parseRunSpec({
    corpus: 'bench',
    prompts: { set: 'demo' },
    samplesPerPrompt,
    sampling: { maxTokens: 16 },
    sources: [{ kind: 'provider', provider: 'bench', model: 'm1', baseURL: url, concurrency: Math.ceil(concurrency / window) }],
    unitSize,
    window,
  });
  const nativeConnection = await NativeConnection.connect({ address });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'met' });
  const bundle = await workflowBundle();
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue: 'bench-cpu' }),
    ...providerWorkerPlans({ dataDir, duck, env: {}, providers: [{ name: 'bench', baseURL: url, concurrentUnits: window, timeoutMs: 30_000 }] }),
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
    workflowId: `bench-${Date.now()}`,
    args: [{ spec, runId: runIdOf(spec) }],
  });
  const running = workers.map((w) => w.run());
  const result = await handle.result();
  const seconds = (performance.now() - t0) / 1000;
  workers.forEach((w) => w.shutdown());
  await Promise.all(running);
  await nativeConnection.close();
  await connection.close();
  const pipelineRate = result.rows / seconds;

  const report = {
    bench: 'collect',
    samples: result.rows,
    concurrency,
    unitSize,
    window,
    bareClientSamplesPerSecond: Math.round(bareRate),
    bareClientMetTransportSamplesPerSecond: Math.round(bareMetTransportRate),
    pipelineSamplesPerSecond: Math.round(pipelineRate),
    ratio: Number((pipelineRate / bareRate).toFixed(3)),
    pipelineSeconds: Number(seconds.toFixed(2)),
    peakRssMbBenchProcess: Math.round(peakRssMb()),
  };
  console.table([
    { what: 'bare openai client loop (baseline)', 'samples/s': report.bareClientSamplesPerSecond },
    { what: "bare openai client loop on met's transport", 'samples/s': report.bareClientMetTransportSamplesPerSecond },
    { what: 'met pipeline (Temporal + journal + Parquet)', 'samples/s': report.pipelineSamplesPerSecond },
  ]);
  console.log(
    `ratio pipeline/bare = ${report.ratio} (pipeline/bare on met's transport ${(pipelineRate / bareMetTransportRate).toFixed(3)}); ${report.samples} samples in ${report.pipelineSeconds}s; peak RSS (bench process incl. workers) ${report.peakRssMbBenchProcess} MB`,
  );
  mkdirSync('bench/out', { recursive: true });
  writeFileSync(`bench/out/collect-${Date.now()}.json`, JSON.stringify(report, null, 2));
} finally {
  duck.closeSync();
  serveProcess.kill('SIGTERM');
  await stopDevServer(dataDir);
  rmSync(dataDir, { recursive: true, force: true });
}
