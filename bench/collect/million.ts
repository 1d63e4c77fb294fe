/**
 * bench/collect/million: one collection run of 1,000,000 samples through the real pieces, each in
 * its own process: the embedded Temporal dev server, `met worker` (the CPU queue with the
 * collectCorpus workflow and the provider queue), `met serve`'s deterministic generator with zero
 * latency, and this process as the client (starts the run, polls its progress query). Reports
 * samples/s, wall time, the exactly-once check (distinct sample keys counted by DuckDB over the
 * shards), and the peak RSS (VmHWM) and CPU seconds of every process. Baseline in the same run: a
 * bare loop of `openai` calls against the same server at the same concurrency.
 *
 *   node --import tsx bench/collect/million.ts [--samples 1000000] [--unit 2000] [--window 4] [--concurrency 64] [--keep]
 *
 * About 10 minutes on 2 cores; not part of `npm test`. Writes bench/out/collect-million-<time>.json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import { Client, Connection } from '@temporalio/client';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { openaiClient } from '../../providers/transport';
import { createDuckDB, quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { freePort, readServerState, startDevServer, stopDevServer } from '../../temporal/devServer';
import { type CollectProgress, collectCorpus, progressQuery } from '../../workflows/collectCorpus';

const PROJECT = resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '1000000' },
    unit: { type: 'string', default: '2000' },
    window: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '64' },
    'bare-samples': { type: 'string', default: '20000' },
    keep: { type: 'boolean', default: false },
  },
});
const PROMPTS = 40; // the shipped demo set
const samplesPerPrompt = Math.ceil(Number(values.samples) / PROMPTS);
const total = samplesPerPrompt * PROMPTS;
const unitSize = Number(values.unit);
const window = Number(values.window);
const concurrency = Number(values.concurrency);
const now = () => performance.now() / 1000;
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

/** Peak and current resident memory (MB) and CPU seconds (all threads) of a live process. */
function procStats(pid: number): { peakRssMb: number; rssMb: number; cpuSec: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    // Fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name): utime, stime in ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { peakRssMb: Math.round(kb('VmHWM') / 1024), rssMb: Math.round(kb('VmRSS') / 1024), cpuSec: ticks / 100 };
  } catch {
    return undefined;
  }
}

function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<string> {
  return new Promise((resolveLine, reject) => {
    let seen = '';
    const onData = (d: Buffer) => {
      seen += String(d);
      const match = pattern.exec(seen);
      if (match) {
        child.stdout?.off('data', onData);
        resolveLine(match[0]);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready: ${seen.slice(-2000)}`)));
  });
}

async function bareClient(url: string, n: number, transport: 'fetch' | 'met' = 'fetch'): Promise<number> {
  const options = { apiKey: 'none', baseURL: url, maxRetries: 0 };
  const client = transport === 'met' ? openaiClient(options) : new OpenAI(options);
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        await client.completions.create({ model: 'm', prompt: `prompt ${i % PROMPTS}`, max_tokens: 16, temperature: 1, top_p: 1, seed: i });
      }
    }),
  );
  return n / (now() - t0);
}

const work = mkdtempSync(join(tmpdir(), 'met-bench-million-'));
const dataDir = join(work, 'data');
const children: ChildProcess[] = [];
let exitCode = 0;
try {
  const port = await freePort();
  await startDevServer({ dataDir, port, headless: true });
  const temporalPid = readServerState(dataDir)!.pid;
  const address = `127.0.0.1:${port}`;

  const serve = spawn(process.execPath, ['--import', 'tsx', join(PROJECT, 'bench', 'collect', 'serve-process.ts')], {
    cwd: PROJECT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(serve);
  const url = (await waitForLine(serve, /http:\/\/\S+/, 'met serve')).trim();
  log(`temporal ${address} (pid ${temporalPid}), met serve ${url} (pid ${serve.pid})`);

  await bareClient(url, 2000); // warm-up
  const bareRate = await bareClient(url, Number(values['bare-samples']));
  await bareClient(url, 2000, 'met');
  const bareMetRate = await bareClient(url, Number(values['bare-samples']), 'met');
  log(`bare openai loop: ${Math.round(bareRate)} samples/s (default client on Node's fetch); ${Math.round(bareMetRate)} samples/s on met's transport`);

  const workerConfig = join(work, 'workers.json');
  writeFileSync(workerConfig, JSON.stringify({ providers: [{ name: 'bench', baseURL: url, concurrentUnits: window, timeoutMs: 30_000 }] }));
  const worker = spawn(
    process.execPath,
    // MET_BENCH_WORKER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the worker.
    [
      ...(process.env.MET_BENCH_WORKER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      join(PROJECT, 'bin', 'met.js'),
      'worker',
      '--queue',
      'million-cpu',
      '--provider',
      'bench',
      '--config',
      workerConfig,
      '--data',
      dataDir,
      '--address',
      address,
      '--namespace',
      'met',
    ],
    { cwd: PROJECT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  children.push(worker);

  const spec = parseRunSpec({
    corpus: 'million',
    prompts: { set: 'demo' },
    samplesPerPrompt,
    sampling: { maxTokens: 16 },
    sources: [{ kind: 'provider', provider: 'bench', model: 'm1', baseURL: url, concurrency: Math.ceil(concurrency / window) }],
    unitSize,
    window,
  });
  const runId = runIdOf(spec);
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: 'met' });
  const t0 = now();
  const handle = await client.workflow.start(collectCorpus, { taskQueue: 'million-cpu', workflowId: `million-${runId}`, args: [{ spec, runId }] });
  log(
    `run ${runId}: ${total.toLocaleString()} samples, units of ${unitSize}, window ${window}, ${Math.ceil(concurrency / window)} requests in flight per unit`,
  );

  const pids = { temporalServer: temporalPid, metServe: serve.pid!, worker: worker.pid!, client: process.pid };
  const peaks: Record<string, { peakRssMb: number; rssMb: number; cpuSec: number }> = {};
  const sampleProcs = () => {
    for (const [name, pid] of Object.entries(pids)) {
      const s = procStats(pid);
      if (s) peaks[name] = s; // VmHWM is already the peak; the last reading of a live process wins.
    }
  };
  const cpuAtStart = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, procStats(pid)?.cpuSec ?? 0]));
  const poller = setInterval(
    () =>
      void (async () => {
        sampleProcs();
        try {
          const p: CollectProgress = await handle.query(progressQuery);
          const s = p.sources[0];
          if (s)
            log(
              `${s.done.toLocaleString()} / ${s.total.toLocaleString()} (${Math.round(s.done / (now() - t0))} samples/s overall, execution ${p.executions}); RSS MB ${Object.entries(
                peaks,
              )
                .map(([k, v]) => `${k} ${v.rssMb}`)
                .join(', ')}`,
            );
        } catch {
          // Between executions (continue-as-new) the query may miss; the next poll answers.
        }
      })(),
    15_000,
  );
  const result = await handle.result();
  const seconds = now() - t0;
  clearInterval(poller);
  sampleProcs();
  const cpuSec = Object.fromEntries(Object.entries(peaks).map(([name, s]) => [name, Number((s.cpuSec - cpuAtStart[name]).toFixed(1))]));
  log(`collectCorpus done: ${result.rows.toLocaleString()} rows in ${seconds.toFixed(1)} s`);

  // Exactly once: every (model, source, prompt, sample index) once, counted from the shards alone.
  const duck = await createDuckDB();
  const glob = join(kindDir(dataDir, 'million', 'samples'), '*', '*', 'part-*.parquet');
  const check = await withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT count(*)::BIGINT AS n, count(DISTINCT (model, source, prompt_id, sample_index))::BIGINT AS keys, count(DISTINCT unit_id)::BIGINT AS units
       FROM read_parquet(${quotedString(glob)}, hive_partitioning = true)`,
    );
    return r.getRowObjects()[0];
  });
  duck.closeSync();
  const rows = Number(check.n);
  const keys = Number(check.keys);
  const exactlyOnce = rows === total && keys === total;
  if (!exactlyOnce) exitCode = 1;

  const report = {
    bench: 'collect-million',
    samples: total,
    unitSize,
    window,
    concurrency,
    seconds: Number(seconds.toFixed(1)),
    samplesPerSecond: Math.round(total / seconds),
    bareClientSamplesPerSecond: Math.round(bareRate),
    bareClientMetTransportSamplesPerSecond: Math.round(bareMetRate),
    ratioVsBareMetTransport: Number((total / seconds / bareMetRate).toFixed(3)),
    ratioVsBare: Number((total / seconds / bareRate).toFixed(3)),
    exactlyOnce: { rows, distinctSampleKeys: keys, units: Number(check.units), expected: total, ok: exactlyOnce },
    peakRssMb: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, v.peakRssMb])),
    cpuSecondsDuringRun: cpuSec,
    executions: (await handle.query(progressQuery).catch(() => undefined))?.executions,
  };
  console.table(
    Object.entries(peaks).map(([process, s]) => ({
      process,
      pid: pids[process as keyof typeof pids],
      'peak RSS MB': s.peakRssMb,
      'CPU s during run': cpuSec[process],
    })),
  );
  log(
    `${total.toLocaleString()} samples in ${report.seconds} s = ${report.samplesPerSecond} samples/s (bare openai loop ${report.bareClientSamplesPerSecond}/s, ratio ${report.ratioVsBare}); ` +
      `exactly once: ${rows.toLocaleString()} rows, ${keys.toLocaleString()} distinct keys -> ${exactlyOnce ? 'OK' : 'FAILED'}`,
  );
  mkdirSync(join(PROJECT, 'bench', 'out'), { recursive: true });
  const out = join(PROJECT, 'bench', 'out', `collect-million-${Date.now()}.json`);
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${out}`);
  await connection.close();
} catch (err) {
  exitCode = 1;
  console.error(err);
} finally {
  for (const child of children.reverse()) {
    if (child.exitCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(kill);
  }
  await stopDevServer(dataDir);
  if (!values.keep) rmSync(work, { recursive: true, force: true });
}
process.exit(exitCode);
