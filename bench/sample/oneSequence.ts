/**
 * bench/sample/oneSequence: one sequence at a time on Gemma 3 270M Q4_K_M, the route where met
 * trailed llama-server most (0.69x at 2 threads, docs/decoding.md). The same seeded requests
 * (demo prompts, temperature 1, no top-k/top-p) through
 *   - llama-server with 1 slot (scripts/build-llama-server.sh; ggml's own threadpool, which polls);
 *   - met's in-process route (LlamaBackend at parallel 1: node-llama-cpp, whose llama.cpp runs its
 *     threads with OpenMP), in a child process with libgomp's default wait policy and with
 *     OMP_WAIT_POLICY=active (threads spin between decodes instead of sleeping).
 * Generated tokens per second, the routes interleaved per round, median over rounds.
 *
 *   node --import tsx bench/sample/oneSequence.ts [--rounds 3] [--requests 12] [--tokens 32] [--threads 2]
 */
import { spawnSync } from 'node:child_process';
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
  const backend = await loadLlamaBackend({ path: GEMMA, precision: 'nf4', model: 'gemma', threads: Number(THREADS), contextSize: 512, parallel: 1 });
  const t0 = performance.now();
  let tokens = 0;
  for (let i = 0; i < REQUESTS; i++)
    tokens += (await backend.generate({ prompt: prompts[i % prompts.length], seed: i, temperature: 1, topP: 1, maxTokens: TOKENS, logprobs: false })).tokenIds
      .length;
  console.log(JSON.stringify({ tokensPerSecond: tokens / ((performance.now() - t0) / 1000) }));
  await backend.close();
}

function llamaServer(): Promise<number> {
  const jobs = Array.from({ length: REQUESTS }, (_, i) => ({ prompt: prompts[i % prompts.length], seed: i }));
  return llamaServerTokensPerSecond(GEMMA, ['-np', '1', '-c', '512', '-t', THREADS, '-fa', 'off', '--no-warmup'], jobs, TOKENS, 1);
}

function child(env: NodeJS.ProcessEnv): number {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', ...process.argv.slice(2)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`the in-process child failed:\n${r.stderr}`);
  return (JSON.parse(line) as { tokensPerSecond: number }).tokensPerSecond;
}

if (process.argv.includes('--child')) await inProcess();
else {
  if (!existsSync(GEMMA) || !existsSync(SERVER)) throw new Error('run bash scripts/ensure-gemma.sh and bash scripts/build-llama-server.sh first');
  const rows: Record<string, number[]> = { 'llama-server, 1 slot': [], 'met in-process (OpenMP default)': [], 'met in-process (OMP_WAIT_POLICY=active)': [] };
  for (let round = 0; round < ROUNDS; round++) {
    const server = await llamaServer();
    const plain = child({ OMP_WAIT_POLICY: '' });
    const active = child({ OMP_WAIT_POLICY: 'active' });
    rows['llama-server, 1 slot'].push(server);
    rows['met in-process (OpenMP default)'].push(plain);
    rows['met in-process (OMP_WAIT_POLICY=active)'].push(active);
    console.error(`round ${round}: llama-server ${server.toFixed(1)}, met ${plain.toFixed(1)}, met active ${active.toFixed(1)} tokens/s (${THREADS} threads)`);
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
