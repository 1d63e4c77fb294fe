/**
 * bench/text/gemma: issue #26's "one text per token sequence" on the real model. The same Gemma 3
 * 270M Q4_K_M file through four routes, the same seeded requests on each:
 *   - in-process llama.cpp (node-llama-cpp, what a model worker runs);
 *   - llama.cpp's own `llama-server` (built by `bash scripts/build-llama-server.sh`), managed by
 *     met's llama.cpp profile;
 *   - `met serve --api-style llama.cpp`, managed by the llama.cpp profile;
 *   - `met serve --api-style vllm`, managed by the vllm profile.
 * Checks, for every stored sample: its text is met's one rule applied to its stored ids
 * (`storedText`), it holds no marker or control token text, and samples with the same ids have the
 * same text on every route. Counts how many samples' ids hold marker tokens (the prompts and seeds
 * are chosen so that some do; a run with none shows nothing and says so).
 *
 *   node --import tsx bench/text/gemma.ts [--samples 120] [--tokens 16]
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadLlamaBackend } from '../../models/llama';
import { ManagedServerBackend } from '../../models/managedServer';
import type { z } from 'zod';
import type { SampledCompletion } from '../../models/backend';
import type { ManagedServerSpec } from '../../config/serverProfiles';

type ServerInput = z.input<typeof ManagedServerSpec>;
import { PROJECT_ROOT } from '../../temporal/binary';

const arg = (name: string, fallback: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const SAMPLES = arg('samples', 120);
const TOKENS = arg('tokens', 16);
const GEMMA = resolve('.tools/gemma/gemma-3-270m-q4_k_m.gguf');
const SERVER = resolve('.tools/llama-server/bin/llama-server');
if (!existsSync(GEMMA)) throw new Error(`${GEMMA} is missing: run bash scripts/ensure-gemma.sh`);
if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run bash scripts/build-llama-server.sh`);

// Prompts on which Gemma's draws at temperature 1 often open with image markers (measured), and plain ones.
const PROMPTS = ['Describe a picture of', 'Here is an image:', 'Photo caption:', 'Write one sentence about rivers.', '<table><tr><td>'];
const MARKER = /<start_of_image>|<end_of_image>|\[multimodal\]|<start_of_turn>|<end_of_turn>|<image_soft_token>|<mask>|<pad>|<eos>|<bos>/;

const metServe = (apiStyle: 'llama.cpp' | 'vllm'): ServerInput => ({
  profile: apiStyle,
  command: process.execPath,
  args: [join(PROJECT_ROOT, 'bin', 'met.js'), 'serve', '--model', '{model}', '--port', '{port}', '--precision', '{precision}', '--api-style', apiStyle],
  precisionFlags: {},
  extraArgs: [],
  scoring: 'none',
  startTimeoutMs: 300_000,
});

const started = performance.now();
const gemma = await loadLlamaBackend({ path: GEMMA, precision: 'nf4', model: 'gemma-3-270m', threads: 2 });
const start = (server: ServerInput) => ManagedServerBackend.start({ server, modelRef: GEMMA, model: 'gemma-3-270m', precision: 'nf4', gpu: 'cpu' });
const routes: {
  name: string;
  backend: { generate(r: Parameters<typeof gemma.generate>[0]): Promise<Pick<SampledCompletion, 'text' | 'tokenIds'>>; close?: () => Promise<void> };
}[] = [{ name: 'in-process', backend: gemma }];
routes.push({
  name: 'llama-server (managed)',
  backend: await start({ profile: 'llama.cpp', command: SERVER, scoring: 'none', startTimeoutMs: 300_000, extraArgs: ['-t', '2'] }),
});
routes.push({ name: 'met serve --api-style llama.cpp (managed)', backend: await start(metServe('llama.cpp')) });
routes.push({ name: 'met serve --api-style vllm (managed)', backend: await start(metServe('vllm')) });

interface Stored {
  ids: number[];
  text: string;
}
const stored: Stored[][] = routes.map(() => []);
const problems: string[] = [];
const perRoute = routes.map(() => ({ samples: 0, withMarkerIds: 0, ruleText: 0, markerInText: 0, ms: 0 }));
for (let i = 0; i < SAMPLES; i++) {
  const request = { prompt: PROMPTS[i % PROMPTS.length], maxTokens: TOKENS, temperature: 1, topP: 1, seed: i };
  for (const [r, route] of routes.entries()) {
    const t0 = performance.now();
    const out = await route.backend.generate(request);
    perRoute[r].ms += performance.now() - t0;
    const ids = out.tokenIds ?? [];
    stored[r].push({ ids, text: out.text });
    const stats = perRoute[r];
    stats.samples++;
    if (MARKER.test(gemma.detokenize(ids))) stats.withMarkerIds++;
    if (out.text === gemma.storedText(ids)) stats.ruleText++;
    else problems.push(`${route.name}, sample ${i}: text ${JSON.stringify(out.text)} is not the rule's text ${JSON.stringify(gemma.storedText(ids))}`);
    if (MARKER.test(out.text)) {
      stats.markerInText++;
      problems.push(`${route.name}, sample ${i}: a marker in stored text ${JSON.stringify(out.text)}`);
    }
  }
}

// Same ids, same text, across every pair of routes.
let pairsWithSameIds = 0;
let sameIdsWithMarkers = 0;
for (let i = 0; i < SAMPLES; i++) {
  for (let a = 0; a < routes.length; a++) {
    for (let b = a + 1; b < routes.length; b++) {
      const [x, y] = [stored[a][i], stored[b][i]];
      if (JSON.stringify(x.ids) !== JSON.stringify(y.ids)) continue;
      pairsWithSameIds++;
      if (MARKER.test(gemma.detokenize(x.ids))) sameIdsWithMarkers++;
      if (x.text !== y.text)
        problems.push(
          `sample ${i}: ${routes[a].name} and ${routes[b].name} sampled the same ids but stored ${JSON.stringify(x.text)} and ${JSON.stringify(y.text)}`,
        );
    }
  }
}

for (const route of routes.slice(1)) await route.backend.close?.();
await gemma.close();

console.log(
  JSON.stringify(
    {
      model: GEMMA,
      samples: SAMPLES,
      maxTokens: TOKENS,
      routes: routes.map((r, i) => ({ name: r.name, ...perRoute[i], ms: Math.round(perRoute[i].ms) })),
      pairsWithSameIds,
      sameIdsWithMarkers,
      problems: problems.slice(0, 20),
      problemCount: problems.length,
      seconds: Math.round((performance.now() - started) / 1000),
    },
    null,
    2,
  ),
);
if (perRoute.every((s) => s.withMarkerIds === 0)) console.log('no sample held a marker token: this run shows nothing about markers');
process.exit(problems.length ? 1 : 0);
