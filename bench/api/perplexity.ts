/**
 * bench/api: perplexity requests per second through met's HTTP API (fastify -> a workflow per
 * request on the real Temporal dev server -> scoreTexts on the model's queue -> back) against
 * direct scoring of the same texts by the same loaded model in the same run. The model is the
 * tiny GGUF; a bigger model makes the API's fixed cost per request a smaller share.
 *   node --import tsx bench/api/perplexity.ts [--requests 200] [--concurrency 16] [--texts-per-request 1]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { startApi } from '../../api/server';
import { createDuckDB } from '../../datasets/duck';
import { loadLlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { TINY_CORPUS } from '../../models/tinyCorpus';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { workflowBundle } from '../../workers/bundle';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { installRuntime } from '../../workers/run';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const requests = arg('requests', 200);
const concurrency = arg('concurrency', 16);
const perRequest = arg('texts-per-request', 1);

const dir = mkdtempSync(join(tmpdir(), 'met-bench-api-'));
installRuntime();
const port = await freePort();
await startDevServer({ dataDir: join(dir, 'temporal'), port, headless: true, namespace: 'met' });
const address = `127.0.0.1:${port}`;
try {
  const paths = writeTinyModels(join(dir, 'models'));
  const backend = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model: 'tiny' });
  const sentences = TINY_CORPUS.split(/(?<=\.)\s+/).filter((s) => s.length > 10);
  const batches = Array.from({ length: requests }, (_, i) => Array.from({ length: perRequest }, (_, k) => sentences[(i * perRequest + k) % sentences.length]));

  // Baseline: the same texts scored in-process, one after another (the model serves one sequence at a time).
  await backend.score('', sentences[0]);
  let t0 = performance.now();
  for (const texts of batches) for (const text of texts) await backend.score('', text);
  const directSeconds = (performance.now() - t0) / 1000;

  const duck = await createDuckDB();
  const nativeConnection = await NativeConnection.connect({ address });
  const bundle = await workflowBundle();
  const plans = [cpuWorkerPlan({ dataDir: dir, duck }), ...modelWorkerPlans({ dataDir: dir, duck, backend, gpu: 'cpu' })];
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
  const running = workers.map((w) => w.run());
  const client = new Client({ connection: await Connection.connect({ address }), namespace: 'met' });
  const api = await startApi({ client, dataDir: dir, address, namespace: 'met', port: 0 });

  const call = (texts: string[]) =>
    fetch(`${api.url}/v1/perplexity`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ texts, models: ['tiny/fp32'] }),
    }).then(async (r) => {
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
      return r.json();
    });
  await call(batches[0]); // warm: bundle loaded, connections open
  const latencies: number[] = [];
  let next = 0;
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < batches.length) {
        const texts = batches[next++];
        const start = performance.now();
        await call(texts);
        latencies.push(performance.now() - start);
      }
    }),
  );
  const apiSeconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);

  await api.close();
  workers.forEach((w) => w.shutdown());
  await Promise.all(running);
  await client.connection.close();
  await nativeConnection.close();
  await backend.close();
  duck.closeSync();

  const report = {
    bench: 'api-perplexity',
    requests,
    concurrency,
    textsPerRequest: perRequest,
    directTextsPerSecond: Number(((requests * perRequest) / directSeconds).toFixed(1)),
    apiRequestsPerSecond: Number((requests / apiSeconds).toFixed(1)),
    apiTextsPerSecond: Number(((requests * perRequest) / apiSeconds).toFixed(1)),
    ratioApiToDirect: Number((directSeconds / apiSeconds).toFixed(3)),
    p50ms: Math.round(latencies[Math.floor(latencies.length * 0.5)]),
    p95ms: Math.round(latencies[Math.floor(latencies.length * 0.95)]),
  };
  console.table([report]);
  mkdirSync('bench/out', { recursive: true });
  writeFileSync(`bench/out/api-${Date.now()}.json`, JSON.stringify(report, null, 2));
} finally {
  await stopDevServer(join(dir, 'temporal')).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
