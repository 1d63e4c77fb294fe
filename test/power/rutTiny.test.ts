import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { PowerSpec } from '../../config/powerSpec';
import { createDuckDB, writeShard, type LogprobRow, type SampleRow } from '../../datasets';
import { powerSimulation } from '../../workflows/powerSimulation';
import { cpuWorkerPlan } from '../../workers/cpu';
import { startTestTemporal, uniqueName, type TestTemporal } from '../helpers/temporal';
import { loadLlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { wilsonInterval } from '../../report/binomial';
import { mixturePowerSpec, renderSvg, type MixturePowerPoint } from '../../report/plots';
import { mixturePower, type ScoredPool } from '../../stats/mixture';
import { RUT_SCORES, type RutScore } from '../../stats/rut';
import { type Pool, samplePool, scoredPool } from './tinyPools';

/**
 * Issue #22's must-show on met's tiny GGUF model: pools of completions sampled at F32 and Q4_0,
 * every completion scored under F32 (token logprobs and ranks, scoreSequence); then
 *   - same weights at 2 threads (a serving-nondeterminism null): identical samples on this CPU;
 *   - RUT's type-I error over 500 simulations (F32 vs itself);
 *   - power of RUT and MMD-Hamming against Q4_0 mixed in per request at 0, 0.1, 0.25, 0.5 and 1, on
 *     the same draws at equal API budgets (table in the diagnostics; set MET_MIXTURE_OUT=DIR to
 *     keep the table and the SVG plot).
 * Draws are with replacement from the pools; a simulation's draws come first, then each test.
 */
const PROMPTS = 10;
const POOL = 50;
const L = 100;
const dataDir = mkdtempSync(join(tmpdir(), 'met-rut-tiny-'));

const pools: Record<string, Pool> = {};
const scored = (pool: Pool, score: RutScore): ScoredPool => scoredPool(pool, score, L, PROMPTS);

/** Same weights at two threads, same seeds: [text, token logprobs] of a few completions at 1 and at 2 threads. */
const threadPairs: [one: [string, number[] | null], two: [string, number[] | null]][] = [];

before(async () => {
  const paths = writeTinyModels(join(dataDir, 'models'));
  const f32 = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32' });
  try {
    pools.fp32 = await samplePool(f32, f32, 0, PROMPTS, POOL);
    const q4 = await loadLlamaBackend({ path: paths.nf4, precision: 'nf4' });
    try {
      pools.nf4 = await samplePool(q4, f32, 90_000_000, PROMPTS, POOL);
    } finally {
      await q4.close();
    }
    // Two threads are slow on a busy 2-core machine (spinning threads): a few completions only.
    const f32t2 = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', threads: 2 });
    try {
      for (let p = 0; p < 3; p++) {
        for (let s = 0; s < 4; s++) {
          const request = { prompt: `Story ${p}: once upon a time`, maxTokens: 24, temperature: 1, topP: 1, seed: 1000 * p + s, logprobs: true };
          const [a, b] = [await f32.generate(request), await f32t2.generate(request)];
          threadPairs.push([
            [a.text, a.tokenLogprobs],
            [b.text, b.tokenLogprobs],
          ]);
        }
      }
    } finally {
      await f32t2.close();
    }
  } finally {
    await f32.close();
  }
});
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('same weights at 1 and 2 threads (llama.cpp on CPU) sample identical completions with identical logprobs: that null is the exact one', () => {
  assert.equal(threadPairs.length, 12);
  for (const [one, two] of threadPairs) assert.deepEqual(two, one);
});

test(
  'RUT type-I error at alpha 0.05 over 500 simulations on the tiny model (F32 vs itself) is within [0.03, 0.07], for each score',
  { timeout: 120_000 },
  (t) => {
    const lines: string[] = [];
    for (const score of RUT_SCORES) {
      const r = mixturePower({
        reference: scored(pools.fp32, score),
        mixture: [{ pool: scored(pools.fp32, score), weight: 1 }],
        perPrompt: 5,
        k: 20,
        tests: ['rut'],
        sims: 500,
        alpha: 0.05,
        seed: 22,
      });
      const rate = r.tests.rut.power;
      lines.push(`${score}: ${rate.toFixed(3)} (budget ${r.budget}, k = 20)`);
      assert.ok(rate >= 0.03 && rate <= 0.07, `RUT (${score}) type-I error, F32 vs F32, budget ${r.budget}: ${rate}`);
      // Under the null the p-values are uniform: their mean is near 1/2 too.
      const meanP = r.tests.rut.pvalues.reduce((a, p) => a + p, 0) / r.sims;
      assert.ok(Math.abs(meanP - 0.5) < 0.05, `mean p-value ${meanP}`);
    }
    t.diagnostic(lines.join('; '));
  },
);

test(
  'power against Q4_0 mixed in per request (0, 0.1, 0.25, 0.5, 1): RUT and MMD-Hamming on the same draws at equal budgets',
  { timeout: 300_000 },
  async (t) => {
    const proportions = [0, 0.1, 0.25, 0.5, 1];
    const perPrompts = [2, 5];
    const points: MixturePowerPoint[] = [];
    const rows: string[] = [
      '| budget (API calls) | test | ' + proportions.map((p) => `Q4_0 share ${p}`).join(' | ') + ' |',
      '|---|---|' + proportions.map(() => '---|').join(''),
    ];
    const power = new Map<string, number>();
    for (const perPrompt of perPrompts) {
      const byTest = new Map<string, number[]>();
      for (const proportion of proportions) {
        const mixture = (score: RutScore) => [
          { pool: scored(pools.fp32, score), weight: 1 - proportion },
          { pool: scored(pools.nf4, score), weight: proportion },
        ];
        const request = { perPrompt, k: 20, sims: 100, b: 200, alpha: 0.05, seed: 7 };
        // Same seed: the same API draws for every test; RUT's other scores rank those same completions.
        const main = mixturePower({ ...request, reference: scored(pools.fp32, 'sum_logprob'), mixture: mixture('sum_logprob'), tests: ['rut', 'mmd_hamming'] });
        // MMD-Hamming with as many local reference completions as RUT ranks against (k per API call): same API budget, same local samples.
        const wideX = mixturePower({
          ...request,
          reference: scored(pools.fp32, 'sum_logprob'),
          mixture: mixture('sum_logprob'),
          tests: ['mmd_hamming'],
          xPerPrompt: Math.min(20 * perPrompt, POOL),
        });
        assert.deepEqual(wideX.served, main.served, 'every test sees the same API draws');
        const results: [string, { rejections: number; power: number }, number][] = [
          ['RUT sum_logprob', main.tests.rut, main.sims],
          ['MMD-Hamming', main.tests.mmd_hamming, main.sims],
          ['MMD-Hamming, wide X', wideX.tests.mmd_hamming, wideX.sims],
        ];
        for (const score of ['mean_logprob', 'log_rank'] as const) {
          const r = mixturePower({ ...request, reference: scored(pools.fp32, score), mixture: mixture(score), tests: ['rut'] });
          assert.deepEqual(r.served, main.served, 'every test sees the same API draws');
          results.push([`RUT ${score}`, r.tests.rut, r.sims]);
        }
        for (const [name, r, sims] of results) {
          const ci = wilsonInterval(r.rejections, sims);
          points.push({ test: name, proportion, budget: main.budget, power: r.power, lo: ci.lo, hi: ci.hi, sims });
          byTest.set(name, [...(byTest.get(name) ?? []), r.power]);
          power.set(`${name}@${perPrompt}@${proportion}`, r.power);
        }
      }
      for (const [name, values] of byTest) rows.push(`| ${perPrompt * PROMPTS} | ${name} | ${values.map((v) => v.toFixed(2)).join(' | ')} |`);
    }
    const table = rows.join('\n');
    t.diagnostic(`\n${table}`);
    const plot = await renderSvg(
      mixturePowerSpec(points, { alpha: 0.05, intervalLabel: '95% Wilson score intervals over 100 simulations', substitute: 'Q4_0' }),
    );
    assert.ok(plot.svg.startsWith('<svg') && plot.width > 300, 'the plot renders');
    assert.deepEqual(plot.warnings, []);
    if (process.env.MET_MIXTURE_OUT) {
      mkdirSync(process.env.MET_MIXTURE_OUT, { recursive: true });
      writeFileSync(join(process.env.MET_MIXTURE_OUT, 'mixture-power.md'), `${table}\n`);
      writeFileSync(join(process.env.MET_MIXTURE_OUT, 'mixture-power.svg'), plot.svg);
    }

    for (const name of ['RUT sum_logprob', 'MMD-Hamming']) {
      for (const perPrompt of perPrompts) {
        const p0 = power.get(`${name}@${perPrompt}@0`)!;
        assert.ok(p0 <= 0.12, `${name} at share 0 (type-I error), budget ${perPrompt * PROMPTS}: ${p0}`);
      }
      const full = power.get(`${name}@5@1`)!;
      assert.ok(full >= 0.8, `${name} against Q4_0 alone at budget 50: ${full}`);
      // More substitution, more power (up to simulation noise).
      for (let i = 1; i < proportions.length; i++) {
        const [a, b] = [power.get(`${name}@5@${proportions[i - 1]}`)!, power.get(`${name}@5@${proportions[i]}`)!];
        assert.ok(b >= a - 0.1, `${name}: power ${a} at share ${proportions[i - 1]} -> ${b} at ${proportions[i]}`);
      }
    }
  },
);

test(
  'the same comparison as a powerSimulation grid: mixture alternatives, statistics mmd_hamming and rut (scorer tiny/fp32)',
  { timeout: 300_000 },
  async (t) => {
    let temporal: TestTemporal | undefined;
    let duck: DuckDBInstance | undefined;
    try {
      temporal = await startTestTemporal();
      duck = await createDuckDB();
      // The pools as a corpus: sample shards plus logprob shards under tiny/fp32, as collectCorpus and scoreCorpus write them.
      for (const source of ['fp32', 'nf4']) {
        const pool = pools[source];
        const samples: SampleRow[] = pool.texts.map((text, i) => ({
          corpus: 'tiny',
          runId: 'fixture',
          unitId: 'u0',
          model: 'tiny',
          source,
          promptSet: 'fixture',
          promptId: `p${pool.prompts[i]}`,
          sampleIndex: i % POOL,
          prompt: `Story ${pool.prompts[i]}: once upon a time`,
          completion: text,
          tokenIds: pool.tokenIds[i],
          tokenLogprobs: null,
          finishReason: 'length',
          sampling: { temperature: 1, topP: 1, maxTokens: 24, stop: [], endpoint: 'completions' },
          seed: pool.seeds[i],
          providerModel: null,
          requestId: null,
          latencyMs: null,
          createdAt: new Date(0),
        }));
        const logprobs: LogprobRow[] = pool.texts.map((_, i) => ({
          corpus: 'tiny',
          model: 'tiny',
          source,
          promptId: `p${pool.prompts[i]}`,
          sampleIndex: i % POOL,
          scorerModel: 'tiny',
          scorerPrecision: 'fp32',
          tokenIds: pool.tokenIds[i],
          tokenLogprobs: pool.logprobs[i],
          sum: pool.scores.sum_logprob[i],
          count: pool.logprobs[i].length,
        }));
        await writeShard(duck, dataDir, { corpus: 'tiny', kind: 'samples', partition: { model: 'tiny', source }, unitId: 'u0' }, samples);
        await writeShard(
          duck,
          dataDir,
          { corpus: 'tiny', kind: 'logprobs', partition: { scorerModel: 'tiny', model: 'tiny', source }, unitId: 'u0' },
          logprobs,
        );
      }
      const mix = (w: number) => ({
        mix: [
          { source: 'nf4', weight: w },
          { source: 'fp32', weight: 1 - w },
        ],
      });
      const spec = PowerSpec.parse({
        corpus: 'tiny',
        reference: { model: 'tiny', source: 'fp32' },
        alternatives: [mix(0.1), mix(0.25), mix(0.5), { model: 'tiny', source: 'nf4' }],
        statistics: ['mmd_hamming', 'rut'],
        scorer: { model: 'tiny', precision: 'fp32' },
        rutK: 20,
        samplesPerPrompt: [5],
        promptSubsets: { size: PROMPTS, draws: 1 },
        sims: 100,
        b: 200,
        L,
        seed: 1,
      });
      const taskQueue = uniqueName('power-rut');
      const worker = await temporal.createWorker({ taskQueue, activities: cpuWorkerPlan({ dataDir, duck, taskQueue }).activities });
      const cells = await worker.runUntil(
        temporal.client.workflow.execute(powerSimulation, { taskQueue, workflowId: uniqueName('power-rut'), args: [{ spec, runId: 'rut-grid' }] }),
      );
      const power = (statistic: string, alt: string) => {
        const c = cells.find((x) => x.cellId === `${statistic}-${alt}-n5-d0`);
        assert.ok(c, `no cell ${statistic}-${alt}: ${cells.map((x) => x.cellId).join(', ')}`);
        return c.power;
      };
      const alts = ['tiny.fp32', 'mix.nf4-0.1.fp32-0.9', 'mix.nf4-0.25.fp32-0.75', 'mix.nf4-0.5.fp32-0.5', 'tiny.nf4'];
      const rows = ['| grid test (budget 50) | share 0 | 0.1 | 0.25 | 0.5 | 1 |', '|---|---|---|---|---|---|'];
      for (const statistic of ['rut', 'mmd_hamming']) rows.push(`| ${statistic} | ${alts.map((a) => power(statistic, a).toFixed(2)).join(' | ')} |`);
      t.diagnostic(`\n${rows.join('\n')}`);
      for (const statistic of ['rut', 'mmd_hamming'])
        assert.ok(power(statistic, 'tiny.fp32') <= 0.12, `${statistic} type-I error ${power(statistic, 'tiny.fp32')}`);
      assert.ok(power('rut', 'tiny.nf4') >= 0.9 && power('rut', 'mix.nf4-0.5.fp32-0.5') >= 0.8, 'RUT detects Q4_0 alone and at half the traffic');
      for (let i = 1; i < alts.length; i++) assert.ok(power('rut', alts[i]) >= power('rut', alts[i - 1]) - 0.1, `rut: ${alts[i - 1]} -> ${alts[i]}`);

      // MET's one-sample test through met test's workflow: the F32 pool split in two (25 + 25 per prompt,
      // their own seeds), one half the reference's stored draws, the other an honest endpoint; Q4_0 a dishonest one.
      const fp32 = pools.fp32;
      for (const [source, keep] of [
        ['ref', (i: number) => i % POOL < 25],
        ['honest', (i: number) => i % POOL >= 25],
      ] as const) {
        const rows = fp32.texts.map((_, i) => i).filter(keep);
        await writeShard(
          duck,
          dataDir,
          { corpus: 'tiny', kind: 'samples', partition: { model: 'tiny', source }, unitId: 'u0' },
          rows.map((i) => ({
            corpus: 'tiny',
            runId: 'fixture',
            unitId: 'u0',
            model: 'tiny',
            source,
            promptSet: 'fixture',
            promptId: `p${fp32.prompts[i]}`,
            sampleIndex: i % POOL,
            prompt: `Story ${fp32.prompts[i]}: once upon a time`,
            completion: fp32.texts[i],
            tokenIds: fp32.tokenIds[i],
            tokenLogprobs: null,
            finishReason: 'length' as const,
            sampling: { temperature: 1, topP: 1, maxTokens: 24, stop: [], endpoint: 'completions' as const },
            seed: fp32.seeds[i],
            providerModel: null,
            requestId: null,
            latencyMs: null,
            createdAt: new Date(0),
          })),
        );
        await writeShard(
          duck,
          dataDir,
          { corpus: 'tiny', kind: 'logprobs', partition: { scorerModel: 'tiny', model: 'tiny', source }, unitId: 'u0' },
          rows.map((i) => ({
            corpus: 'tiny',
            model: 'tiny',
            source,
            promptId: `p${fp32.prompts[i]}`,
            sampleIndex: i % POOL,
            scorerModel: 'tiny',
            scorerPrecision: 'fp32',
            tokenIds: fp32.tokenIds[i],
            tokenLogprobs: fp32.logprobs[i],
            sum: fp32.scores.sum_logprob[i],
            count: fp32.logprobs[i].length,
          })),
        );
      }
      const { TestSpec } = await import('../../config/testSpec');
      const { runTest } = await import('../../workflows/runTest');
      // A worker runs once: a second one, on its own queue, for the tests.
      const testQueue = uniqueName('one-sample');
      const testWorker = await temporal.createWorker({ taskQueue: testQueue, activities: cpuWorkerPlan({ dataDir, duck, taskQueue: testQueue }).activities });
      const oneSample = async (y: string, stat: 'g_squared' | 'chi_squared') => {
        const spec = TestSpec.parse({
          testId: uniqueName(`g2-${y}`),
          x: { corpus: 'tiny', model: 'tiny', source: 'ref' },
          y: { corpus: 'tiny', model: 'tiny', source: y, samplesPerPrompt: 25 },
          stat,
          scorer: { model: 'tiny', precision: 'fp32' },
          pvalue: 'bootstrap',
          b: 300,
          L: 1000,
          seed: 2,
        });
        return temporal!.client.workflow.execute(runTest, { taskQueue: testQueue, workflowId: uniqueName('one-sample'), args: [spec] });
      };
      const [honest, dishonest] = await testWorker.runUntil(async () => [await oneSample('honest', 'g_squared'), await oneSample('nf4', 'g_squared')]);
      t.diagnostic(`one-sample g_squared (b = 300): honest F32 p = ${honest.pvalue}, Q4_0 p = ${dishonest.pvalue}`);
      assert.deepEqual([honest.statistic, honest.n1, honest.n2], ['g_squared', 250, 250]);
      assert.equal(honest.reject, false, `honest endpoint, g_squared p = ${honest.pvalue}`);
      assert.equal(dishonest.reject, true, `Q4_0 endpoint, g_squared p = ${dishonest.pvalue}`);

      // The one-sample statistics in a power grid (issue #30): g_squared cells on the same corpus,
      // each simulation a draw of n x m completions tested against F32's own probabilities with the
      // bootstrap from the F32 pool, as met test runs it (the control: half the pool against the other).
      const gridQueue = uniqueName('power-g2');
      const gridWorker = await temporal.createWorker({ taskQueue: gridQueue, activities: cpuWorkerPlan({ dataDir, duck, taskQueue: gridQueue }).activities });
      const g2Spec = PowerSpec.parse({
        corpus: 'tiny',
        reference: { model: 'tiny', source: 'fp32' },
        alternatives: [mix(0.25), { model: 'tiny', source: 'nf4' }],
        statistics: ['g_squared'],
        scorer: { model: 'tiny', precision: 'fp32' },
        samplesPerPrompt: [2, 5],
        promptSubsets: { size: PROMPTS, draws: 1 },
        sims: 100,
        b: 200,
        L: 1000,
        seed: 1,
      });
      assert.throws(
        () => PowerSpec.parse({ ...g2Spec, scorer: undefined }),
        /g_squared test completions against the reference model's own probabilities: give scorer/,
      );
      const g2Cells = await gridWorker.runUntil(
        temporal.client.workflow.execute(powerSimulation, {
          taskQueue: gridQueue,
          workflowId: uniqueName('power-g2'),
          args: [{ spec: g2Spec, runId: 'g2-grid' }],
        }),
      );
      const g2 = (alt: string, n: number) => {
        const c = g2Cells.find((x) => x.cellId === `g_squared-${alt}-n${n}-d0`);
        assert.ok(c, `no cell g_squared-${alt}-n${n}: ${g2Cells.map((x) => x.cellId).join(', ')}`);
        return c.power;
      };
      const g2Alts = ['tiny.fp32', 'control', 'mix.nf4-0.25.fp32-0.75', 'tiny.nf4'];
      t.diagnostic(
        `\n| g_squared grid | ${g2Alts.join(' | ')} |\n|---|---|---|---|---|\n${[2, 5].map((n) => `| n = ${n} | ${g2Alts.map((a) => g2(a, n).toFixed(2)).join(' | ')} |`).join('\n')}`,
      );
      for (const n of [2, 5]) {
        assert.ok(
          g2('tiny.fp32', n) <= 0.12 && g2('control', n) <= 0.12,
          `g_squared type-I error at n = ${n}: ${g2('tiny.fp32', n)}, control ${g2('control', n)}`,
        );
        assert.ok(g2('tiny.nf4', n) >= g2('mix.nf4-0.25.fp32-0.75', n) - 0.1, `n = ${n}: Q4_0 alone is detected at least as often as a quarter of it`);
      }
      assert.ok(g2('tiny.nf4', 5) >= 0.9, `g_squared power against Q4_0 at n = 5: ${g2('tiny.nf4', 5)}`);
      // Each simulation's p-value as every met test reads it, stored with the cell.
      const { kindDir, quotedString, withConnection } = await import('../../datasets');
      const stored = await withConnection(duck, async (c) =>
        (
          await c.runAndReadAll(
            `SELECT sim_pvalues::DOUBLE[] AS p, b FROM read_parquet(${quotedString(join(kindDir(dataDir, 'tiny', 'power'), 'part-*.parquet'))}) WHERE run_id = 'g2-grid' AND cell_id = 'g_squared-tiny.nf4-n5-d0'`,
          )
        ).getRowObjectsJson(),
      );
      const pvalues = stored[0].p as number[];
      assert.ok(pvalues.length === 100 && pvalues.every((p) => p >= 0 && p <= 1) && stored[0].b === 200, JSON.stringify(stored[0]).slice(0, 200));
    } finally {
      await temporal?.close();
      duck?.closeSync();
    }
  },
);
