/**
 * bench/score/packed: met's scoring path with one completion per decode and the native scorer
 * packing several (a KV stream each), against node-llama-cpp's bare forward pass over the same tokens
 * (evaluateWithoutGeneratingNewTokens, one sequence at a time: logits at the last position only, so
 * it skips the 262,144-wide output layer that scoring runs at every position), on a scoring shard's
 * shape: prompts of 20-40 tokens, several completions of 16-48 tokens each. It first measures how
 * far the packed scores are from the single ones (docs/decoding.md: not exact, so met does not pack).
 *   node --import tsx bench/score/packed.ts [--model .tools/gemma/gemma-3-270m-F32.gguf] [--sequences 4]
 *     [--threads 1] [--rounds 3] [--prompts 3] [--completions 8]
 * met's path is LlamaBackend.score() per completion (the scoring activity's); packed, one
 * NativeScorer.score() call per 2N completions on N KV streams. tokens/s counts every decoded token (prompt and
 * completion) for all three; ratios are per round (the three run interleaved), reported as medians.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { getLlama, type Token } from 'node-llama-cpp';
import { quantizeGguf } from '../../models/ggufFile';
import { loadLlamaBackend } from '../../models/llama';
import { NativeScorer } from '../../models/nativeScorer';

const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const path = arg('model', '.tools/gemma/gemma-3-270m-F32.gguf');
const sequences = Number(arg('sequences', '4'));
const threads = Number(arg('threads', '1'));
const rounds = Number(arg('rounds', '3'));
const prompts = Number(arg('prompts', '3'));
const completions = Number(arg('completions', '8'));

const TEXT =
  'The history of the city begins in the early Middle Ages, when a small group of farmers settled on the banks of the river. Over the following centuries the settlement grew into a busy market town. Photosynthesis is the process by which green plants use sunlight to synthesize foods from carbon dioxide and water. To make a simple loaf of bread, mix flour, water, salt and yeast into a soft dough and knead it for ten minutes. The committee met on Tuesday to discuss the budget for the coming year, and agreed to postpone the decision until more estimates had been received. ';

const GEMMA = '.tools/gemma/gemma-3-270m-q4_k_m.gguf';
// The F32 file is made from the Q4_K_M one by met's own quantizer, as bench/power/gemma.ts does.
if (!existsSync(path) && path.endsWith('-F32.gguf')) {
  if (!existsSync(GEMMA)) throw new Error(`${GEMMA} is missing: run bash scripts/ensure-gemma.sh`);
  quantizeGguf(GEMMA, 'F32', path);
}
const common = { path, precision: 'fp32' as const, model: 'gemma-3-270m', threads, log: (l: string) => console.error(l) };
const single = await loadLlamaBackend(common);
const packed = NativeScorer.open(path, { threads, contextSize: 2048, batchSize: 128, sequences, kvUnified: false, flashAttention: 'off', swaFull: false });
// The shard: texts cut from TEXT at seeded offsets, so every run scores the same tokens.
let state = 12345;
const rand = (lo: number, hi: number) => {
  state = (state * 1103515245 + 12345) % 2 ** 31;
  return lo + (state % (hi - lo + 1));
};
const words = TEXT.trim().split(' ');
const cut = (tokens: number) => {
  let at = rand(0, words.length - 60);
  let text = '';
  while (single.tokenize(text).length < tokens) text += ` ${words[at++ % words.length]}`;
  return text;
};
const items = Array.from({ length: prompts }, () => cut(rand(20, 40)).trim()).flatMap((prompt) =>
  Array.from({ length: completions }, () => ({ prompt, completion: cut(rand(16, 48)) })),
);
const allTokens = items.map(({ prompt, completion }) => [single.bosToken!, ...single.tokenize(prompt), ...single.tokenize(completion)]);
const packedItems = items.map(({ prompt }, i) => ({ tokens: allTokens[i], from: single.tokenize(prompt).length }));
const evaluated = allTokens.reduce((n, t) => n + t.length, 0);
const scored = items.reduce((n, it) => n + single.tokenize(it.completion).length, 0);

// Packing must not move a number (docs/decoding.md): checked here on the shard itself.
const one = await Promise.all(items.map((it) => single.score(it.prompt, it.completion)));
const many = (await packed.score(packedItems)).logprobs;
const maxDiff = Math.max(...one.flatMap((s) => s.tokenLogprobs).map((l, j) => Math.abs(l - many[j])));
console.error(`${items.length} completions, ${evaluated} tokens (${scored} scored); packed vs single: max |Δ logprob| ${maxDiff} nats`);

const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
const model = await llama.loadModel({ modelPath: path });
const context = await model.createContext({ contextSize: 2048, sequences: 1, threads, batchSize: 128 });
const sequence = context.getSequence();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const speeds = { bare: [] as number[], single: [] as number[], packed: [] as number[] };
const time = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return evaluated / ((performance.now() - t0) / 1000);
};
for (let round = 0; round < rounds; round++) {
  const bare = await time(async () => {
    for (const tokens of allTokens) {
      await sequence.clearHistory();
      await sequence.evaluateWithoutGeneratingNewTokens(tokens as Token[]);
    }
  });
  const one = await time(async () => {
    for (const it of items) await single.score(it.prompt, it.completion);
  });
  const chunk = 2 * sequences;
  const pack = await time(async () => {
    for (let at = 0; at < items.length; at += chunk) await packed.score(packedItems.slice(at, at + chunk));
  });
  speeds.bare.push(bare);
  speeds.single.push(one);
  speeds.packed.push(pack);
  console.error(
    `round ${round + 1}: bare ${bare.toFixed(1)} tok/s, met single ${one.toFixed(1)} (${(one / bare).toFixed(3)}x), met ${sequences} per decode ${pack.toFixed(1)} (${(pack / bare).toFixed(3)}x; ${(pack / one).toFixed(3)}x single)`,
  );
}
const ratio = (a: number[], b: number[]) => Number(median(a.map((x, i) => x / b[i])).toFixed(3));
const result = {
  bench: 'score/packed',
  model: path,
  threads,
  sequences,
  completions: items.length,
  evaluatedTokens: evaluated,
  scoredTokens: scored,
  maxDiffPackedVsSingle: maxDiff,
  bareTokS: Number(median(speeds.bare).toFixed(1)),
  singleTokS: Number(median(speeds.single).toFixed(1)),
  packedTokS: Number(median(speeds.packed).toFixed(1)),
  singleVsBare: ratio(speeds.single, speeds.bare),
  packedVsBare: ratio(speeds.packed, speeds.bare),
  packedVsSingle: ratio(speeds.packed, speeds.single),
  perRound: speeds,
};
console.log(JSON.stringify(result, null, 2));
mkdirSync('bench/out', { recursive: true });
writeFileSync(`bench/out/score-packed-${Date.now()}.json`, `${JSON.stringify(result, null, 2)}\n`);
await context.dispose();
await model.dispose();
await single.close();
packed.close();
