/**
 * bench/sample/batched: the sampling routes of an in-process model alone (no Temporal, no journal),
 * on Gemma 3 270M Q4_K_M: the same seeded requests (demo prompts, temperature 1, top-p 1) through
 *   - node-llama-cpp, one sequence at a time (LlamaBackend at parallel 1: met's route before issue #27);
 *   - met's batched sampler at N slots (LlamaBackend at parallel N), logprobs re-scored or not.
 * Generated tokens per second, rounds interleaved, median over rounds.
 *
 *   node --import tsx bench/sample/batched.ts [--rounds 1] [--requests 16] [--tokens 32] [--slots 1,4,8] [--threads 2]
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';

const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const ROUNDS = Number(arg('rounds', '1'));
const REQUESTS = Number(arg('requests', '16'));
const TOKENS = Number(arg('tokens', '32'));
const SLOTS = arg('slots', '1,4,8').split(',').map(Number);
const THREADS = Number(arg('threads', '2'));
const GEMMA = resolve('.tools/gemma/gemma-3-270m-q4_k_m.gguf');
const prompts = readFileSync('datasets/prompts/demo.jsonl', 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => String((JSON.parse(l) as { text: string }).text));

async function run(backend: LlamaBackend, logprobs: boolean): Promise<number> {
  const one = (i: number) => backend.generate({ prompt: prompts[i % prompts.length], seed: i, temperature: 1, topP: 1, maxTokens: TOKENS, logprobs });
  const t0 = performance.now();
  let tokens = 0;
  if (backend.parallel > 1) {
    for (const g of await Promise.all(Array.from({ length: REQUESTS }, (_, i) => one(i)))) tokens += g.tokenIds.length;
  } else {
    for (let i = 0; i < REQUESTS; i++) tokens += (await one(i)).tokenIds.length;
  }
  return tokens / ((performance.now() - t0) / 1000);
}

const results: { round: number; route: string; tokensPerSecond: number }[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const slots of SLOTS) {
    const backend = await loadLlamaBackend({ path: GEMMA, precision: 'nf4', model: 'gemma', threads: THREADS, contextSize: 512, parallel: slots });
    try {
      for (const logprobs of [false, true]) {
        const route = `${slots > 1 ? `batched sampler, ${slots} slots` : 'node-llama-cpp, 1 at a time'}${logprobs ? ', logprobs re-scored' : ''}`;
        const tps = await run(backend, logprobs);
        results.push({ round, route, tokensPerSecond: tps });
        console.error(`round ${round}: ${route}: ${tps.toFixed(1)} tokens/s`);
      }
    } finally {
      await backend.close();
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const routes = [...new Set(results.map((r) => r.route))];
const base = median(results.filter((r) => r.route === routes[0]).map((r) => r.tokensPerSecond));
console.table(
  routes.map((route) => {
    const tps = median(results.filter((r) => r.route === route).map((r) => r.tokensPerSecond));
    return { route, tokensPerSecond: Number(tps.toFixed(1)), vsFirst: Number((tps / base).toFixed(2)) };
  }),
);
