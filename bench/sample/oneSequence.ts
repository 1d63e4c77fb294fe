/**
 * bench/sample/oneSequence: one sequence at a time on Gemma 3 270M Q4_K_M, the route where met
 * trailed llama-server most (0.69x at 2 threads with node-llama-cpp's loop, docs/decoding.md). The
 * same seeded requests (demo prompts, temperature 1, no top-k/top-p) through
 *   - llama-server with 1 slot (scripts/build-llama-server.sh);
 *   - met's in-process route at parallel 1 (LlamaBackend), in a child process each: its default
 *     sampler (met's native generator at one slot, weights repacked as node-llama-cpp repacks them)
 *     and node-llama-cpp's own loop (`oneSequenceSampler: 'node-llama-cpp'`, the GPU build's), which
 *     draw the same tokens (checked here too).
 * Generated tokens per second (the model's load not counted), the routes interleaved per round,
 * median over rounds.
 *
 *   node --import tsx bench/sample/oneSequence.ts [--rounds 3] [--requests 12] [--tokens 32] [--threads 2]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LLAMA_SERVER, llamaServerTokensPerSecond } from './llamaServer';

const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const ROUNDS = Number(arg('rounds', '3'));
const REQUESTS = Number(arg('requests', '12'));
const TOKENS = Number(arg('tokens', '32'));
const THREADS = arg('threads', '2');
const GEMMA = resolve('.tools/gemma/gemma-3-270m-q4_k_m.gguf');
const SERVER = LLAMA_SERVER;
const prompts = readFileSync('datasets/prompts/demo.jsonl', 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => String((JSON.parse(l) as { text: string }).text));

/** The child: met's in-process route, one request after another; prints tokens/s. */
async function inProcess(): Promise<void> {
  const { loadLlamaBackend } = await import('../../models/llama');
  const oneSequenceSampler = arg('sampler', 'native') as 'native' | 'node-llama-cpp';
  const backend = await loadLlamaBackend({ path: GEMMA, precision: 'nf4', model: 'gemma', threads: Number(THREADS), contextSize: 512, oneSequenceSampler });
  const request = (i: number) => ({ prompt: prompts[i % prompts.length], seed: i, temperature: 1, topP: 1, maxTokens: TOKENS, logprobs: false });
  await backend.generate({ ...request(0), maxTokens: 1 }); // the native generator opens on first use
  const t0 = performance.now();
  const drawn: number[][] = [];
  for (let i = 0; i < REQUESTS; i++) drawn.push((await backend.generate(request(i))).tokenIds);
  const tokens = drawn.reduce((n, ids) => n + ids.length, 0);
  console.log(
    JSON.stringify({ tokensPerSecond: tokens / ((performance.now() - t0) / 1000), drawn: createHash('sha256').update(JSON.stringify(drawn)).digest('hex') }),
  );
  await backend.close();
}

function llamaServer(): Promise<number> {
  const jobs = Array.from({ length: REQUESTS }, (_, i) => ({ prompt: prompts[i % prompts.length], seed: i }));
  return llamaServerTokensPerSecond(GEMMA, ['-np', '1', '-c', '512', '-t', THREADS, '-fa', 'off', '--no-warmup'], jobs, TOKENS, 1);
}

function child(sampler: 'native' | 'node-llama-cpp'): { tokensPerSecond: number; drawn: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', '--sampler', sampler, ...process.argv.slice(2)], {
    encoding: 'utf8',
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`the in-process child failed:\n${r.stderr}`);
  return JSON.parse(line) as { tokensPerSecond: number; drawn: string };
}

if (process.argv.includes('--child')) await inProcess();
else {
  if (!existsSync(GEMMA) || !existsSync(SERVER)) throw new Error('run bash scripts/ensure-gemma.sh and bash scripts/build-llama-server.sh first');
  const NATIVE = 'met in-process, native sampler (default)';
  const LOOP = "met in-process, node-llama-cpp's loop";
  const rows: Record<string, number[]> = { 'llama-server, 1 slot': [], [NATIVE]: [], [LOOP]: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const server = await llamaServer();
    const native = child('native');
    const loop = child('node-llama-cpp');
    if (native.drawn !== loop.drawn) throw new Error("the native sampler drew other tokens than node-llama-cpp's loop");
    rows['llama-server, 1 slot'].push(server);
    rows[NATIVE].push(native.tokensPerSecond);
    rows[LOOP].push(loop.tokensPerSecond);
    console.error(
      `round ${round}: llama-server ${server.toFixed(1)}, met native ${native.tokensPerSecond.toFixed(1)}, met node-llama-cpp loop ${loop.tokensPerSecond.toFixed(1)} tokens/s (${THREADS} threads; the same tokens)`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const base = median(rows['llama-server, 1 slot']);
  console.table(
    Object.entries(rows).map(([route, xs]) => ({
      route,
      tokensPerSecond: Number(median(xs).toFixed(1)),
      vsLlamaServer: Number((median(xs) / base).toFixed(2)),
    })),
  );
}
