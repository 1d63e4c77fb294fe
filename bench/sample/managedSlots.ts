/**
 * bench/sample/managedSlots: a managed llama-server at `parallel: N` against the real binary (built by
 * `bash scripts/build-llama-server.sh`), without Temporal: the worker's backend
 * (models/managedServer.ts) starts llama-server itself (profile llama.cpp, so `-np N`), and the same
 * seeded requests (demo prompts, temperature 1) go through it as a model worker hands a unit's
 * samples over: all at once, the backend keeping N in flight. Per N, interleaved over rounds: the
 * command line it started, generated tokens/s, the most slots llama-server's own /slots reported
 * busy at once (polled every 20 ms), and the sampler record's engine.
 *
 *   node --import tsx bench/sample/managedSlots.ts [--model .tools/gemma/gemma-3-270m-q4_k_m.gguf] [--rounds 2] [--requests 16] [--tokens 32] [--slots 1,4]
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ManagedServerBackend } from '../../models/managedServer';

const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const MODEL = resolve(arg('model', '.tools/gemma/gemma-3-270m-q4_k_m.gguf'));
const ROUNDS = Number(arg('rounds', '2'));
const REQUESTS = Number(arg('requests', '16'));
const TOKENS = Number(arg('tokens', '32'));
const SLOTS = arg('slots', '1,4').split(',').map(Number);
const THREADS = 2;
const SERVER = resolve('.tools/llama-server/bin/llama-server');
if (!existsSync(MODEL)) throw new Error(`${MODEL} is missing`);
if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run bash scripts/build-llama-server.sh`);
const prompts = readFileSync('datasets/prompts/demo.jsonl', 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => String((JSON.parse(l) as { text: string }).text));

async function run(slots: number): Promise<{ tokensPerSecond: number; busiest: number; engine: string | undefined; command: string }> {
  let command = '';
  const backend = await ManagedServerBackend.start({
    server: {
      command: SERVER,
      profile: 'llama.cpp',
      scoring: 'none',
      extraArgs: ['-c', String(slots * 512), '-t', String(THREADS), '-fa', 'off', '--no-warmup'],
    },
    modelRef: MODEL,
    model: 'gemma',
    precision: 'nf4',
    gpu: 'cpu',
    parallel: slots,
    log: (line) => {
      if (line.includes('starting: ')) command = line.slice(line.indexOf('starting: ') + 10);
    },
  });
  const url = backend.stats().url!;
  let busiest = 0;
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const list = (await (await fetch(`${url}/slots`)).json()) as { is_processing?: boolean }[];
      busiest = Math.max(busiest, list.filter((s) => s.is_processing).length);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    const t0 = performance.now();
    const done = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) =>
        backend.generate({ prompt: prompts[i % prompts.length], seed: i, maxTokens: TOKENS, temperature: 1, topP: 1 }),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    const tokens = done.reduce((n, d) => n + (d.tokenIds?.length ?? 0), 0);
    return { tokensPerSecond: tokens / seconds, busiest, engine: backend.samplerEngine, command };
  } finally {
    polling = false;
    await poll;
    await backend.close();
  }
}

const results: { round: number; slots: number; tokensPerSecond: number; busiest: number }[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const slots of SLOTS) {
    const r = await run(slots);
    results.push({ round, slots, tokensPerSecond: r.tokensPerSecond, busiest: r.busiest });
    console.log(
      `round ${round}, parallel ${slots}: ${r.tokensPerSecond.toFixed(1)} tokens/s, at most ${r.busiest} slots busy at once; engine ${r.engine ?? '(none: `gemma backend`)'}; ${r.command}`,
    );
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
console.table(
  SLOTS.map((slots) => {
    const mine = results.filter((r) => r.slots === slots);
    const tps = median(mine.map((r) => r.tokensPerSecond));
    return { slots, tokensPerSecond: Number(tps.toFixed(1)), busiest: Math.max(...mine.map((r) => r.busiest)) };
  }),
);
