import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { PowerSpec, type PowerSource } from '../../config/powerSpec';
import type { PowerPlan } from '../../activities/power';
import { seedFrom } from '../../common/hash';
import { corpusDir, kindDir, readSlice } from '../../datasets';
import { buildReport } from '../../report/html';
import { compositeDecision, deriveSeed, pvalueFrom, simulateCompositePowerCell, simulateNulls } from '../../stats';
import { powerSimulation } from '../../workflows/powerSimulation';
import { cpuWorkerPlan } from '../../workers/cpu';
import { powerSection } from '../../jobs/powerReport';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';
import { storedCells, writePowerCorpus } from './fixture';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-power-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    await writePowerCorpus(duck, dataDir, 'power', [
      ['reference', 0],
      ['weak', 0.3],
      ['strong', 1.2],
      ['half', 0.05],
    ]);
  },
});

async function runGrid(spec: PowerSpec, runId: string) {
  const taskQueue = uniqueName('power');
  const plan = cpuWorkerPlan({ dataDir, duck, taskQueue });
  const worker = await temporal.createWorker({ taskQueue, activities: plan.activities });
  return worker.runUntil(temporal.client.workflow.execute(powerSimulation, { taskQueue, workflowId: uniqueName('power'), args: [{ spec, runId }] }));
}

test('power rises with n for a degraded source, the null cell stays within [0, 0.1], reruns reproduce cells', { timeout: 180_000 }, async () => {
  const spec = PowerSpec.parse({
    corpus: 'power',
    reference: { model: 'toy', source: 'reference' },
    alternatives: [
      { model: 'toy', source: 'weak' },
      { model: 'toy', source: 'strong' },
    ],
    samplesPerPrompt: [2, 8],
    promptSubsets: { size: 8, draws: 1 },
    sims: 50,
    b: 200,
    L: 120,
    seed: 3,
  });
  const cells = await runGrid(spec, 'grid1');
  const by = Object.fromEntries(cells.map((c) => [c.cellId, c]));
  const strong2 = by['mmd_hamming-toy.strong-n2-d0'].power;
  const strong8 = by['mmd_hamming-toy.strong-n8-d0'].power;
  assert.ok(strong8 > strong2 && strong8 >= 0.8, `strong: ${strong2} -> ${strong8}`);
  for (const n of [2, 8]) {
    const p = by[`mmd_hamming-toy.reference-n${n}-d0`].power;
    assert.ok(p >= 0 && p <= 0.1, `null cell at n = ${n}: ${p}`);
  }

  // Every shard holds each simulation's seed, statistic and p-value; p <= alpha is what was counted.
  const stored = await storedCells(duck, dataDir, 'power', 'grid1');
  assert.equal(stored.length, cells.length);
  for (const c of stored) {
    assert.equal(c.simSeeds.length, spec.sims);
    assert.equal(c.simPvalues.filter((p) => p <= spec.alpha).length, c.rejections, c.cellId);
    assert.equal(c.reference2, null);
  }

  // Resume after a partial loss: drop half the cell shards and run again; every cell is identical.
  const dir = kindDir(dataDir, 'power', 'power');
  readdirSync(dir)
    .filter((f) => f.endsWith('.parquet'))
    .slice(0, 3)
    .forEach((f) => rmSync(join(dir, f)));
  const again = await runGrid(spec, 'grid1');
  assert.ok(again.some((c) => !c.skipped) && again.some((c) => c.skipped));
  assert.deepEqual(
    again.map((c) => [c.cellId, c.rejections]),
    cells.map((c) => [c.cellId, c.rejections]),
  );
  assert.deepEqual(await storedCells(duck, dataDir, 'power', 'grid1'), stored, 'recomputed cells equal the lost ones, simulation by simulation');

  const section = await powerSection(duck, dataDir, { spec, runId: 'grid1' });
  // Per n: the reference, two alternatives and the independent-pool control (on by default).
  assert.equal(section.cells.length, 8);
  assert.deepEqual(section.warnings, [], 'pools of 60 are split into halves of 30: no ratio warning with the control');
});

test(
  'the independent-pool control: within alpha for pools large enough for n, above it (with the warning in words) for pools that are not',
  { timeout: 240_000 },
  async () => {
    const { calibrationWarnings } = await import('../../report/tables');
    const { PowerSection } = await import('../../report/schemas');
    await writePowerCorpus(duck, dataDir, 'pools', [['big', 0]], { prompts: 8, perPrompt: 200 });
    await writePowerCorpus(duck, dataDir, 'smallpools', [['small', 0]], { prompts: 8, perPrompt: 8 });
    const grid = (corpus: string, source: string, n: number) =>
      PowerSpec.parse({
        corpus,
        reference: { model: 'toy', source },
        alternatives: [{ model: 'toy', source }],
        samplesPerPrompt: [n],
        promptSubsets: { size: 8 },
        sims: 200,
        b: 1000,
        L: 120,
        seed: 11,
      });
    const control = async (spec: PowerSpec, runId: string) => {
      const cells = await runGrid(spec, runId);
      const c = cells.find((x) => x.cellId === `mmd_hamming-control-n${spec.samplesPerPrompt[0]}-d0`);
      assert.ok(c, cells.map((x) => x.cellId).join(', '));
      const section = PowerSection.parse(await powerSection(duck, dataDir, { spec, runId }));
      return { rate: c.power, warnings: calibrationWarnings(section) };
    };
    // Halves of 100 per prompt, n = 2 drawn from each: independent pools behave like the model (measured
    // over 4 seeds: 0.02-0.055; at n = 4 it was 0.045-0.10, a pool effect already showing).
    const big = await control(grid('pools', 'big', 2), 'control-big');
    assert.ok(big.rate <= 0.1, `control with halves of 100: ${big.rate}`);
    assert.deepEqual(big.warnings, []);
    // Halves of 4 per prompt, n = 8 drawn from each: the test tells the two finite pools apart.
    const small = await control(grid('smallpools', 'small', 8), 'control-small');
    assert.ok(small.rate > 0.2, `control with halves of 4: ${small.rate}`);
    assert.equal(small.warnings.length, 1, small.warnings.join('\n'));
    assert.match(
      small.warnings[0],
      /^pools too small at n = 8 \(mmd_hamming\): the independent-pool control \(half of each prompt's toy\/small samples against the other half\) rejects at .* above α = 0\.05 beyond its interval\. The test then detects the finite pool it resamples from, not the model/,
    );
  },
);

test(
  'composite null: a cell rejects only when both references are rejected, equal to a direct recomputation; small pools warn',
  { timeout: 180_000 },
  async () => {
    const spec = PowerSpec.parse({
      corpus: 'power',
      references: [
        { model: 'toy', source: 'reference' },
        { model: 'toy', source: 'half' },
      ],
      alternatives: [
        { model: 'toy', source: 'strong' },
        { model: 'toy', source: 'weak' },
      ],
      samplesPerPrompt: [3, 25],
      promptSubsets: { size: 6, draws: 2 },
      sims: 40,
      b: 150,
      L: 120,
      seed: 5,
    });
    const runId = 'composite1';
    const cells = await runGrid(spec, runId);
    // 2 subsets x 2 sizes x (2 references + 2 alternatives).
    assert.equal(cells.length, 16);
    const plan = JSON.parse(readFileSync(join(corpusDir(dataDir, 'power'), 'power-cache', runId, 'plan.json'), 'utf8')) as PowerPlan;
    const stored = new Map((await storedCells(duck, dataDir, 'power', runId)).map((c) => [c.cellId, c]));
    assert.equal(stored.size, 16);

    for (const cell of plan.cells) {
      const subset = plan.subsets[cell.draw];
      const N = cell.n * subset.length;
      const read = async (source: string) =>
        (await readSlice(duck, dataDir, { corpus: 'power', models: ['toy'], sources: [source], promptIds: subset, unit: 'char', L: spec.L })).sample;
      const [r1, r2] = [await read('reference'), await read('half')];
      const nulls = cell.nullKeys.map((id, i) =>
        simulateNulls('mmd_hamming', [r1, r2][i], N, { b: spec.b, seed: seedFrom(spec.seed, 'nulls', id), k: spec.k }),
      ) as [Float64Array, Float64Array];
      const y = (cell.alternative as PowerSource).source === 'reference' ? undefined : await read((cell.alternative as PowerSource).source);
      const seed = seedFrom(spec.seed, 'cell', cell.cellId);
      const direct = simulateCompositePowerCell('mmd_hamming', [r1, r2], y, nulls, { n: N, sims: spec.sims, alpha: spec.alpha, seed, k: spec.k });
      const got = stored.get(cell.cellId)!;
      assert.equal(got.reference2, 'toy.half');
      assert.equal(got.rejections, direct.rejections, cell.cellId);
      assert.deepEqual(got.simStatistics, Array.from(direct.statistics[0]), cell.cellId);
      assert.deepEqual(got.simStatistics2, Array.from(direct.statistics[1]), cell.cellId);
      // Per seed: the p-values against each reference's own nulls, and the composite decision.
      let rejections = 0;
      for (let s = 0; s < spec.sims; s++) {
        assert.equal(got.simSeeds[s], deriveSeed(seed, s));
        assert.equal(got.simPvalues[s], pvalueFrom(got.simStatistics[s], nulls[0]));
        assert.equal(got.simPvalues2![s], pvalueFrom(got.simStatistics2[s], nulls[1]));
        if (compositeDecision([got.simPvalues[s], got.simPvalues2![s]], spec.alpha).reject) rejections++;
      }
      assert.equal(rejections, got.rejections, cell.cellId);
      // n = 25 per prompt from pools of 60 < 3 x 25: every source of the cell is named with its pool size.
      if (cell.n === 25) {
        assert.ok(
          got.warnings.length >= 1 && got.warnings.every((w) => w.includes(`cell ${cell.cellId}`) && w.includes('only 60 samples')),
          got.warnings.join('; '),
        );
      } else assert.deepEqual(got.warnings, []);
    }

    const power = (source: string, n: number) => {
      const matching = cells.filter((c) => c.cellId.startsWith(`mmd_hamming-toy.${source}-n${n}-`));
      return matching.reduce((a, c) => a + c.rejections, 0) / matching.reduce((a, c) => a + c.sims, 0);
    };
    assert.ok(power('strong', 25) >= 0.8 && power('strong', 25) > power('strong', 3), `strong: ${power('strong', 3)} -> ${power('strong', 25)}`);
    for (const source of ['reference', 'half'])
      for (const n of [3, 25]) assert.ok(power(source, n) <= 0.1, `composite null cell ${source} n=${n}: ${power(source, n)}`);

    // The report names the composite null and carries the warnings.
    const section = await powerSection(duck, dataDir, { spec, runId });
    assert.ok(section.cells.every((c) => c.reference === 'composite {toy/reference, toy/half}'));
    assert.ok((section.warnings ?? []).length > 0);
    const built = await buildReport({ title: 'composite', meta: { runId, createdAt: new Date(0).toISOString() }, sections: [section] }, { png: false });
    assert.ok(built.html.includes('composite {toy/reference, toy/half}'));
    assert.ok(built.html.includes('class="warnings"') && built.html.includes('only 60 samples for prompt'));
  },
);
