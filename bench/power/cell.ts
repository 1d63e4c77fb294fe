/**
 * bench/power: one paper-sized power cell (100 simulations, b = 1,000 null statistics from the
 * parametric bootstrap, m = 25 prompts, N = 250 rows per side, L = 1,000, mmd_hamming) with met's
 * PowerSimulator (one Gram block per prompt over the reference's and the alternative's stored rows,
 * every draw an index sum), against the original package's way in the same run: every null
 * statistic and every simulation copies its drawn rows into two samples and recomputes the full
 * kernel (bench/stats/naive.ts). The naive cell is timed on a few draws (checked equal to met's
 * draws with the same seeds) and extrapolated to b + sims draws.
 * met always runs the full cell; `--full` (or MET_BENCH_FULL=1) times more naive draws.
 *   node --import tsx bench/power/cell.ts [--full]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { createPowerSimulator, deriveSeed, PowerSimulator, Rng, simulateNullsParallel } from '../../stats';
import { drawCopy, originalMmdHamming, rowsByPrompt } from '../stats/naive';
import { textSample } from '../stats/textModel';

const full = process.argv.includes('--full') || process.env.MET_BENCH_FULL === '1';
const L = 1000;
const m = 25;
const storedPerPrompt = 100;
const n = 250;
const b = 1000;
const sims = 100;
const alpha = 0.05;

const rng = new Rng(1);
const reference = textSample(rng, m, storedPerPrompt, L);
const alternative = textSample(rng, m, storedPerPrompt, L, 1.08);

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}

// met, one thread: build the pooled Gram blocks, the nulls, the cell.
let t0 = performance.now();
const simulator = new PowerSimulator('mmd_hamming', { references: [reference], alternatives: [alternative] });
const gramSeconds = seconds(t0);
const nulls = simulator.nulls({ n, b, seed: 11 });
const cell = simulator.cell({ alternative: 0, n, sims, alpha, seed: 12, nulls });
const metSeconds = seconds(t0);

// met through the parallel API (workers only where the job is large enough to pay for them).
t0 = performance.now();
const parallelSimulator = await createPowerSimulator('mmd_hamming', { references: [reference], alternatives: [alternative] }, { threads: 2 });
const parallelNulls = await simulateNullsParallel(parallelSimulator, { n, b, seed: 11 }, { threads: 2 });
const parallelCell = parallelSimulator.cell({ alternative: 0, n, sims, alpha, seed: 12, nulls: parallelNulls });
const parallelSeconds = seconds(t0);
if (parallelCell.rejections !== cell.rejections) throw new Error('the parallel API gave another cell');

// The original's way, on a few draws: null draw t and simulation s with met's seeds.
const naiveDraws = full ? 8 : 2;
const refRows = rowsByPrompt(reference);
const altRows = rowsByPrompt(alternative);
t0 = performance.now();
for (let t = 0; t < naiveDraws; t++) {
  const isNull = t % 2 === 0;
  const index = Math.floor(t / 2);
  const draws = new Rng(isNull ? deriveSeed(11, index) : cell.seeds[index]);
  const x = drawCopy(draws, reference, refRows, n);
  const y = isNull ? drawCopy(draws, reference, refRows, n) : drawCopy(draws, alternative, altRows, n);
  const value = originalMmdHamming(x, y);
  const expected = isNull ? nulls[index] : cell.statistics[index];
  if (Math.abs(value - expected) > 1e-12) throw new Error(`draw ${t}: naive ${value} != met ${expected}`);
}
const naivePerDraw = seconds(t0) / naiveDraws;
const naiveSeconds = naivePerDraw * (b + sims);

const report = {
  bench: 'power-cell',
  node: process.version,
  cpu: cpus()[0]?.model,
  threads: availableParallelism(),
  cell: { sims, b, m, nPerSide: n, L, statistic: 'mmd_hamming', storedPerPromptPerSource: storedPerPrompt },
  power: cell.power,
  metSeconds,
  metGramSeconds: gramSeconds,
  metParallelApiSeconds: parallelSeconds,
  naiveSecondsPerDraw: naivePerDraw,
  naiveDrawsTimed: naiveDraws,
  naiveSecondsExtrapolated: naiveSeconds,
  speedup: naiveSeconds / metSeconds,
};
console.table([
  { run: 'met, 1 thread (Gram + 1,000 nulls + 100 sims)', seconds: round(metSeconds), speedup: round(naiveSeconds / metSeconds, 1) },
  { run: 'met, parallel API (2 threads)', seconds: round(parallelSeconds), speedup: round(naiveSeconds / parallelSeconds, 1) },
  { run: `naive, ${naiveDraws} draws timed, x ${b + sims} extrapolated`, seconds: round(naiveSeconds), speedup: 1 },
]);
console.log(
  `power ${cell.power} (${cell.rejections}/${sims}); met's Gram blocks took ${round(gramSeconds)} s of the cell; naive draws equal met's for the same seeds.`,
);
mkdirSync('bench/out', { recursive: true });
const file = `bench/out/power-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify(report, null, 2));
console.log(`wrote ${file}`);

function round(v: number, digits = 4): number {
  return Number(v.toPrecision(digits));
}
