import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { PowerSpec } from '../../config/powerSpec';
import { seedFrom } from '../../common/hash';
import type { PowerPlan } from '../../activities/power';
import { corpusDir, readSlice } from '../../datasets';
import { PowerSimulator, simulateNulls } from '../../stats';
import { powerSection } from '../../jobs/powerReport';
import { buildReport } from '../../report/html';
import { mixturePoints } from '../../report/tables';
import { PowerSection } from '../../report/schemas';
import { powerSimulation } from '../../workflows/powerSimulation';
import { cpuWorkerPlan } from '../../workers/cpu';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';
import { storedCells, writePowerCorpus } from './fixture';

/**
 * Mixture substitution in a power grid (powerSimulation): an alternative served per request by
 * 'strong' with weight w and by the reference otherwise; cells are those of stats' PowerSimulator
 * with the same mixture and seeds.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-power-mix-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    await writePowerCorpus(duck, dataDir, 'mix', [
      ['reference', 0],
      ['strong', 1.2],
    ]);
  },
});

const mix = (w: number) => ({
  mix: [
    { source: 'strong', weight: w },
    { source: 'reference', weight: 1 - w },
  ],
});

test(
  'power grid with mixture alternatives: cells match PowerSimulator with the same mixture, power grows with the mixed-in share',
  { timeout: 180_000 },
  async (t) => {
    const spec = PowerSpec.parse({
      corpus: 'mix',
      reference: { model: 'toy', source: 'reference' },
      alternatives: [
        mix(0.1),
        mix(0.5),
        { model: 'toy', source: 'strong' },
        {
          mix: [
            { source: 'reference', weight: 1 },
            { source: 'strong', weight: 0 },
          ],
        },
      ],
      samplesPerPrompt: [6],
      promptSubsets: { size: 8, draws: 1 },
      sims: 60,
      b: 200,
      L: 120,
      seed: 11,
    });
    const taskQueue = uniqueName('power-mix');
    const worker = await temporal.createWorker({ taskQueue, activities: cpuWorkerPlan({ dataDir, duck, taskQueue }).activities });
    const cells = await worker.runUntil(
      temporal.client.workflow.execute(powerSimulation, { taskQueue, workflowId: uniqueName('power-mix'), args: [{ spec, runId: 'mix1' }] }),
    );
    const by = Object.fromEntries(cells.map((c) => [c.cellId, c.power]));
    t.diagnostic(JSON.stringify(by));
    const [p0, p10, p50, p100] = [
      by['mmd_hamming-toy.reference-n6-d0'],
      by['mmd_hamming-mix.strong-0.1.reference-0.9-n6-d0'],
      by['mmd_hamming-mix.strong-0.5.reference-0.5-n6-d0'],
      by['mmd_hamming-toy.strong-n6-d0'],
    ];
    assert.ok(
      [p0, p10, p50, p100].every((p) => p !== undefined),
      `cell ids: ${Object.keys(by).join(', ')}`,
    );
    assert.ok(p0 <= 0.1, `type-I error ${p0}`);
    assert.ok(p100 >= 0.9 && p50 < p100 && p10 <= p50, `power 0 -> 0.1 -> 0.5 -> 1: ${p0}, ${p10}, ${p50}, ${p100}`);
    // A mixture that puts all weight on the reference is a null cell.
    const allRef = by['mmd_hamming-mix.reference-1.strong-0-n6-d0'];
    assert.ok(allRef !== undefined && allRef <= 0.1, `mix {reference: 1}: ${allRef}`);

    // The stored cell is PowerSimulator's mixture cell with the plan's seeds.
    const stored = (await storedCells(duck, dataDir, 'mix', 'mix1')).find((c) => c.cellId === 'mmd_hamming-mix.strong-0.5.reference-0.5-n6-d0')!;
    const plan = JSON.parse(readFileSync(join(corpusDir(dataDir, 'mix'), 'power-cache', 'mix1', 'plan.json'), 'utf8')) as PowerPlan;
    const subset = plan.subsets[0];
    const read = async (source: string) =>
      (await readSlice(duck, dataDir, { corpus: 'mix', models: ['toy'], sources: [source], promptIds: subset, unit: 'char', L: 120 })).sample;
    const [ref, strong] = [await read('reference'), await read('strong')];
    const N = 6 * 8;
    const nulls = simulateNulls('mmd_hamming', ref, N, { b: 200, seed: seedFrom(11, 'nulls', 'mmd_hamming-n6-d0'), k: spec.k });
    const sim = new PowerSimulator('mmd_hamming', { references: [ref], alternatives: [strong, ref] }, { k: spec.k });
    const direct = sim.cell({
      mixture: [
        { alternative: 0, weight: 0.5 },
        { alternative: 1, weight: 0.5 },
      ],
      n: N,
      sims: 60,
      alpha: 0.05,
      seed: stored.seed,
      nulls,
    });
    assert.deepEqual(stored.simPvalues, Array.from(direct.pvalues));
    assert.equal(stored.seed, seedFrom(11, 'cell', stored.cellId));

    // The report plots power against the mixed-in share: the reference at 0, the mixtures, 'strong' alone at 1.
    const section = await powerSection(duck, dataDir, { spec, runId: 'mix1' });
    const points = mixturePoints(PowerSection.parse(section));
    assert.deepEqual(
      points.map((p) => [p.test, p.proportion, p.budget, p.power]),
      [
        ['mmd_hamming', 0, 48, p0],
        ['mmd_hamming', 0.1, 48, p10],
        ['mmd_hamming', 0.5, 48, p50],
        ['mmd_hamming', 1, 48, p100],
      ],
    );
    const built = await buildReport({ title: 'mixtures', meta: { runId: 'mix1', createdAt: new Date(0).toISOString() }, sections: [section] }, { png: false });
    const figure = built.figures.find((f) => f.title === 'Power versus the mixed-in share');
    assert.ok(figure && figure.svg.startsWith('<svg'), `figures: ${built.figures.map((f) => f.title).join(', ')}`);
    assert.match(built.html, /served by toy\/strong/);
  },
);
