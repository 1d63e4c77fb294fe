/**
 * bench/sample/gemma: issue #27's throughput benchmark. The same 64 samples x 48 tokens (8 demo
 * prompts x 8, temperature 1, top-p 1, seeded) on Gemma 3 270M Q4_K_M, 2 threads:
 *   - llama.cpp's own `llama-server` (built by `bash scripts/build-llama-server.sh`) with N slots
 *     (`-np N`) and N requests in flight, for N = 1, 4, 8, 16;
 *   - `met collect` through an in-process model worker (Temporal dev server, `met worker`) with
 *     `parallel: N` (N = 1: one sequence at a time, met's native sampler at one slot, node-llama-cpp's
 *     tokens; N > 1: met's batched sampler), one worker process per N, started before its collection;
 *   - `met collect` through a model worker on a managed llama-server (`backend: managed`, profile
 *     llama.cpp, `parallel: N`: the server started with `-np N` and N requests kept in flight).
 * Rounds are interleaved (per round, at each N: llama-server, then each met route), and the report
 * gives generated tokens per second (median over rounds), each met route's ratio to llama-server at
 * each N, and to itself at the first N, and the sampler record's engine each route stored.
 *
 *   node --import tsx bench/sample/gemma.ts [--rounds 2] [--samples 64] [--tokens 48] [--slots 1,4,8,16] [--routes in-process,managed]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDuckDB, kindDir, quotedString, withConnection } from '../../datasets';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { CPU_TASK_QUEUE } from '../../temporal/queues';
import { exited, spawnMet, waitUntil } from '../../test/helpers/processes';
import { LLAMA_SERVER, llamaServerTokensPerSecond } from './llamaServer';

const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const ROUNDS = Number(arg('rounds', '2'));
const SAMPLES = Number(arg('samples', '64'));
const TOKENS = Number(arg('tokens', '48'));
const SLOTS = arg('slots', '1,4,8,16').split(',').map(Number);
const ROUTES = arg('routes', 'in-process,managed').split(',') as ('in-process' | 'managed')[];
const PER_PROMPT = 8;
const THREADS = 2;
const GEMMA = resolve('.tools/gemma/gemma-3-270m-q4_k_m.gguf');
const SERVER = LLAMA_SERVER;
if (!existsSync(GEMMA)) throw new Error(`${GEMMA} is missing: run bash scripts/ensure-gemma.sh`);
if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run bash scripts/build-llama-server.sh`);
const prompts = readFileSync('datasets/prompts/demo.jsonl', 'utf8')
  .split('\n')
  .filter(Boolean)
  .slice(0, SAMPLES / PER_PROMPT)
  .map((l) => String((JSON.parse(l) as { text: string }).text));

/** llama-server with `slots` slots: the samples, `slots` in flight; generated tokens per second. */
function llamaServer(slots: number): Promise<number> {
  const jobs = Array.from({ length: SAMPLES }, (_, i) => ({ prompt: prompts[Math.floor(i / PER_PROMPT)], seed: i }));
  return llamaServerTokensPerSecond(
    GEMMA,
    ['-np', String(slots), '-c', String(slots * 512), '-t', String(THREADS), '-fa', 'off', '--no-warmup'],
    jobs,
    TOKENS,
    slots,
  );
}

/** met collect of the same samples through the model worker running; generated tokens per second of the collection, and the engine it recorded. */
async function metCollect(route: string, round: number, slots: number, dir: string, common: string[]): Promise<{ tokensPerSecond: number; engines: string[] }> {
  const corpus = `sample-bench-${route}-${round}-${slots}`;
  const spec = join(dir, `${corpus}.yaml`);
  writeFileSync(
    spec,
    [
      `corpus: ${corpus}`,
      `prompts: { set: demo, limit: ${prompts.length} }`,
      `samplesPerPrompt: ${PER_PROMPT}`,
      `sampling: { maxTokens: ${TOKENS}, temperature: 1, topP: 1 }`,
      'sources:',
      '  - { kind: local, model: gemma, precision: nf4 }',
    ].join('\n'),
  );
  const t0 = performance.now();
  const collect = spawnMet(['collect', spec, '--wait', ...common]);
  if ((await exited(collect)) !== 0) throw new Error(`met collect failed:\n${collect.output()}`);
  const seconds = (performance.now() - t0) / 1000;
  const duck = await createDuckDB();
  try {
    const files = join(kindDir(join(dir, 'data'), corpus, 'samples'), '*', '*', 'part-*.parquet');
    const rows = await withConnection(duck, async (c) =>
      (await c.runAndReadAll(`SELECT sum(len(token_ids))::BIGINT FROM read_parquet(${quotedString(files)})`)).getRows(),
    );
    const engines = await withConnection(duck, async (c) =>
      (await c.runAndReadAll(`SELECT DISTINCT json_extract_string(sampler, '$.engine') FROM read_parquet(${quotedString(files)}) ORDER BY 1`)).getRows(),
    );
    return { tokensPerSecond: Number(rows[0][0]) / seconds, engines: engines.map((r) => String(r[0])) };
  } finally {
    duck.closeSync();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'met-bench-sample-'));
const port = await freePort();
await startDevServer({ dataDir: join(dir, 'temporal'), port, headless: true });
mkdirSync(join(dir, 'data'), { recursive: true });
const common = ['--data', join(dir, 'data'), '--address', `127.0.0.1:${port}`];
/** A model worker with `parallel: slots` (in-process, or on a managed llama-server), polling (loaded and checked) before it is returned. */
async function startWorker(route: 'in-process' | 'managed', slots: number): Promise<ReturnType<typeof spawnMet>> {
  const config = join(dir, `worker-${route}-${slots}.yaml`);
  // The managed server as llamaServer() runs it: 512 tokens per slot, the same threads, flash attention off.
  const server = `{ command: ${SERVER}, profile: llama.cpp, scoring: none, extraArgs: [-c, '${slots * 512}', -t, '${THREADS}', -fa, 'off', --no-warmup] }`;
  const model = route === 'managed' ? ['    backend: managed', `    server: ${server}`] : [`    threads: ${THREADS}`];
  writeFileSync(config, ['models:', '  - name: gemma', '    precision: nf4', `    path: ${GEMMA}`, `    parallel: ${slots}`, ...model].join('\n'));
  const worker = spawnMet(['worker', '--config', config, '--queue', CPU_TASK_QUEUE, ...common]);
  await waitUntil(`a worker with parallel ${slots}`, () => worker.output().includes('worker polling') || worker.exitCode !== null, 300_000);
  if (worker.exitCode !== null) throw new Error(`the worker failed:\n${worker.output()}`);
  return worker;
}

const results: { round: number; route: string; slots: number; tokensPerSecond: number; engines?: string[] }[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const slots of SLOTS) {
      const server = await llamaServer(slots);
      results.push({ round, route: 'llama-server', slots, tokensPerSecond: server });
      console.error(`round ${round}: llama-server, ${slots} slots: ${server.toFixed(1)} tokens/s`);
      for (const route of ROUTES) {
        const worker = await startWorker(route, slots);
        try {
          const met = await metCollect(route, round, slots, dir, common);
          results.push({ round, route: `met collect (${route} worker)`, slots, ...met });
          console.error(
            `round ${round}: met collect, ${route}, parallel ${slots}: ${met.tokensPerSecond.toFixed(1)} tokens/s; engine ${met.engines.join(' | ')}`,
          );
        } finally {
          worker.kill('SIGTERM');
          await exited(worker);
        }
      }
    }
  }
} finally {
  await stopDevServer(join(dir, 'temporal'));
  rmSync(dir, { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const of = (route: string, slots: number) => median(results.filter((r) => r.route.startsWith(route) && r.slots === slots).map((r) => r.tokensPerSecond));
const table = SLOTS.flatMap((slots) =>
  ROUTES.map((route) => {
    const name = `met collect (${route}`;
    const [server, met] = [of('llama-server', slots), of(name, slots)];
    return {
      slots,
      route,
      llamaServer: Number(server.toFixed(1)),
      met: Number(met.toFixed(1)),
      ratio: Number((met / server).toFixed(2)),
      [`vsItselfAt${SLOTS[0]}`]: Number((met / of(name, SLOTS[0])).toFixed(2)),
    };
  }),
);
console.table(table);
mkdirSync('bench/out', { recursive: true });
const out = `bench/out/sample-gemma-${Date.now()}.json`;
writeFileSync(out, JSON.stringify({ bench: 'sample/gemma', samples: SAMPLES, tokens: TOKENS, threads: THREADS, rounds: ROUNDS, results, table }, null, 2));
console.log(`wrote ${out}`);
