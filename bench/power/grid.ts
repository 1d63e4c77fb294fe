/**
 * bench/power/grid.ts: a whole power grid through met's power activities (the code the
 * powerSimulation workflow runs on the CPU workers: plan, cached nulls, cells written as Parquet
 * shards), against the original package's algorithm in the same run. The grid is paper-like:
 * m = 25 prompts, 100 stored completions per prompt and source, L = 1,000, mmd_hamming, b = 1,000,
 * 100 simulations per cell, n = 2, 5, 10 per prompt (N = 50, 125, 250 per side), the reference and
 * two alternatives (9 cells, 3 null sets).
 *
 *   met (threads)   the activities as workers run them: Gram blocks and large null batches on worker threads
 *   met (1 thread)  the same activities with threads = 1
 *   original        every null statistic and simulation copies its drawn rows and recomputes the
 *                   full kernel (bench/stats/naive.ts); timed on a few draws per N (checked equal to
 *                   the statistics met stored for the same seeds) and extrapolated to the grid.
 *   node --import tsx bench/power/grid.ts [--full]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPowerActivities, type PowerPlan } from '../../activities/power';
import { seedFrom } from '../../common/hash';
import { PowerSpec, type PowerSource } from '../../config/powerSpec';
import { createDuckDB, kindDir, quotedString, readSlice, withConnection, writeShard, type SampleRow } from '../../datasets';
import { deriveSeed, Rng } from '../../stats';
import { drawCopy, originalMmdHamming, rowsByPrompt } from '../stats/naive';
import { rowText, textSample } from '../stats/textModel';

const full = process.argv.includes('--full') || process.env.MET_BENCH_FULL === '1';
const m = 25;
const stored = 100;
const L = 1000;
const sources = [
  ['reference', 1],
  ['alt-a', 1.04],
  ['alt-b', 1.08],
] as const;

const dataDir = mkdtempSync(join(tmpdir(), 'met-bench-grid-'));
const duck = await createDuckDB();
try {
  // The corpus: three "models" of text-like completions, written as met shards.
  const rng = new Rng(1);
  for (const [source, sharpness] of sources) {
    const sample = textSample(rng, m, stored, L, sharpness);
    const rows: SampleRow[] = Array.from(sample.prompts, (p, i) => ({
      corpus: 'bench',
      runId: 'bench',
      unitId: 'u0',
      model: 'text',
      source,
      promptSet: 'bench',
      promptId: `p${String(p).padStart(2, '0')}`,
      sampleIndex: i % stored,
      prompt: `prompt ${p}`,
      completion: rowText(sample, i),
      tokenIds: null,
      tokenLogprobs: null,
      finishReason: 'length',
      sampling: { temperature: 1, topP: 1, maxTokens: L, stop: [], endpoint: 'completions' },
      seed: i,
      providerModel: null,
      requestId: null,
      latencyMs: null,
      createdAt: new Date(0),
    }));
    await writeShard(duck, dataDir, { corpus: 'bench', kind: 'samples', partition: { model: 'text', source }, unitId: 'u0' }, rows);
  }
  const spec = PowerSpec.parse({
    corpus: 'bench',
    reference: { model: 'text', source: 'reference' },
    alternatives: [
      { model: 'text', source: 'alt-a' },
      { model: 'text', source: 'alt-b' },
    ],
    samplesPerPrompt: [2, 5, 10],
    promptSubsets: { size: m, draws: 1 },
    sims: 100,
    b: 1000,
    L,
    seed: 7,
  });

  async function grid(runId: string, threads?: number): Promise<{ seconds: number; plan: PowerPlan; power: Record<string, number> }> {
    const acts = createPowerActivities({ duck, dataDir, threads });
    const t0 = performance.now();
    const plan = await acts.planPowerGrid({ spec, runId });
    for (const key of plan.nullKeys) await acts.computeNulls({ spec, runId, key, subset: plan.subsets[key.draw] });
    const keys = new Map(plan.nullKeys.map((k) => [k.id, k]));
    const power: Record<string, number> = {};
    for (const cell of plan.cells) {
      const r = await acts.runPowerCell({ spec, runId, cell, subset: plan.subsets[cell.draw], nullKeys: cell.nullKeys.map((id) => keys.get(id)!) });
      power[cell.cellId] = r.power;
    }
    return { seconds: (performance.now() - t0) / 1000, plan, power };
  }
  const threaded = await grid('threads');
  const single = await grid('single', 1);
  if (JSON.stringify(threaded.power) !== JSON.stringify(single.power)) throw new Error('threads changed a cell');

  // The original's way, timed per N on a few draws of met's stored simulations (same seeds, same rows).
  const glob = join(kindDir(dataDir, 'bench', 'power'), 'part-*.parquet');
  const storedStats = new Map(
    (
      await withConnection(duck, async (c) =>
        (await c.runAndReadAll(`SELECT cell_id, sim_statistics FROM read_parquet(${quotedString(glob)}) WHERE run_id = 'threads'`)).getRowObjectsJS(),
      )
    ).map((r) => [String(r.cell_id), (r.sim_statistics as number[]).map(Number)]),
  );
  const slices = new Map<string, Awaited<ReturnType<typeof readSlice>>>();
  for (const [source] of sources)
    slices.set(
      source,
      await readSlice(duck, dataDir, { corpus: 'bench', models: ['text'], sources: [source], promptIds: threaded.plan.subsets[0], unit: 'char', L }),
    );
  const draws = full ? 4 : 1;
  const naive: { nPerPrompt: number; secondsPerDraw: number; drawsInGrid: number }[] = [];
  for (const n of spec.samplesPerPrompt) {
    const cells = threaded.plan.cells.filter((c) => c.n === n && !c.isNull);
    const reference = slices.get('reference')!.sample;
    const t0 = performance.now();
    for (let d = 0; d < draws; d++) {
      const cell = cells[d % cells.length];
      const alternative = slices.get((cell.alternative as PowerSource).source)!.sample;
      const sim = Math.floor(d / cells.length);
      const r = new Rng(deriveSeed(seedFrom(spec.seed, 'cell', cell.cellId), sim));
      const x = drawCopy(r, reference, rowsByPrompt(reference), n * m);
      const y = drawCopy(r, alternative, rowsByPrompt(alternative), n * m);
      const value = originalMmdHamming(x, y);
      const expected = storedStats.get(cell.cellId)![sim];
      if (Math.abs(value - expected) > 1e-12) throw new Error(`${cell.cellId} simulation ${sim}: original ${value} != met ${expected}`);
    }
    const secondsPerDraw = (performance.now() - t0) / 1000 / draws;
    const nullSets = threaded.plan.nullKeys.filter((k) => k.n === n).length;
    const cellCount = threaded.plan.cells.filter((c) => c.n === n).length;
    naive.push({ nPerPrompt: n, secondsPerDraw, drawsInGrid: nullSets * spec.b + cellCount * spec.sims });
  }
  const naiveSeconds = naive.reduce((a, r) => a + r.secondsPerDraw * r.drawsInGrid, 0);

  const report = {
    bench: 'power-grid',
    node: process.version,
    cpu: cpus()[0]?.model,
    threads: availableParallelism(),
    grid: {
      m,
      storedPerPrompt: stored,
      L,
      statistic: 'mmd_hamming',
      b: spec.b,
      sims: spec.sims,
      samplesPerPrompt: spec.samplesPerPrompt,
      cells: threaded.plan.cells.length,
      nullSets: threaded.plan.nullKeys.length,
    },
    metSeconds: threaded.seconds,
    metOneThreadSeconds: single.seconds,
    naive,
    naiveSecondsExtrapolated: naiveSeconds,
    speedup: naiveSeconds / threaded.seconds,
    power: threaded.power,
  };
  console.table([
    {
      run: `met activities, ${availableParallelism()} threads (plan + nulls + cells + shards)`,
      seconds: round(threaded.seconds),
      speedup: round(naiveSeconds / threaded.seconds, 3),
    },
    { run: 'met activities, 1 thread', seconds: round(single.seconds), speedup: round(naiveSeconds / single.seconds, 3) },
    { run: `original, ${draws} draw(s) per N timed, extrapolated`, seconds: round(naiveSeconds), speedup: 1 },
  ]);
  console.log(
    `power per cell: ${Object.entries(threaded.power)
      .map(([k, v]) => `${k.replace('mmd_hamming-text.', '')} ${v}`)
      .join(', ')}`,
  );
  mkdirSync('bench/out', { recursive: true });
  const file = `bench/out/power-grid-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(`wrote ${file}`);
} finally {
  duck.closeSync();
  rmSync(dataDir, { recursive: true, force: true });
}

function round(v: number, digits = 4): number {
  return Number(v.toPrecision(digits));
}
