/**
 * bench/power: one paper-sized power cell (100 simulations, b = 1,000 null statistics, m = 25,
 * N = 250 per side, L = 1,000, mmd_hamming) with met's pooled-Gram sampler, against the naive
 * method in the same run (every null statistic and every simulation rebuilds its kernel from the
 * rows), timed on a reduced count and extrapolated. node --import tsx bench/power/cell.ts [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { encodeChars, Rng, simulateNulls, simulatePowerCell, statistic, type EncodedSample } from '../../stats';

const quick = process.argv.includes('--quick');
const L = 1000;
const m = 25;
const perPromptPool = 40;
const n = 250;
const b = quick ? 200 : 1000;
const sims = quick ? 20 : 100;

function pool(rng: Rng, shift: number): EncodedSample {
  const alphabet = 'etaoin shrdlucmfwypvbgkjqxz.,';
  const prompts: number[] = [];
  const completions: string[] = [];
  for (let r = 0; r < m; r++) {
    for (let s = 0; s < perPromptPool; s++) {
      const len = 200 + rng.int(801);
      let prev = r % alphabet.length;
      let text = '';
      for (let i = 0; i < len; i++) {
        prev = rng.float() < 0.6 + shift ? (prev * 7 + 3) % alphabet.length : rng.int(alphabet.length);
        text += alphabet[prev];
      }
      prompts.push(r);
      completions.push(text);
    }
  }
  return encodeChars(prompts, completions, L, m);
}

/** The naive draw: copy the drawn rows into fresh samples and compute the statistic from scratch. */
function naiveDraw(rng: Rng, p: EncodedSample, q: EncodedSample): number {
  const take = (src: EncodedSample) => {
    const prompts = new Int32Array(n);
    const tokens = new Int32Array(n * L);
    for (let i = 0; i < n; i++) {
      const r = rng.int(m);
      const row = r * perPromptPool + rng.int(perPromptPool);
      prompts[i] = r;
      tokens.set(src.tokens.subarray(row * L, (row + 1) * L), i * L);
    }
    return { L, m, prompts, tokens };
  };
  return statistic('mmd_hamming', take(p), take(q));
}

const rng = new Rng(1);
const reference = pool(rng, 0);
const alternative = pool(rng, 0.1);

let t0 = performance.now();
const nulls = simulateNulls('mmd_hamming', reference, n, { b, seed: 1 });
const cell = simulatePowerCell('mmd_hamming', reference, alternative, nulls, { n, sims, alpha: 0.05, seed: 2 });
const metSeconds = (performance.now() - t0) / 1000;

const naiveDraws = quick ? 3 : 10;
t0 = performance.now();
for (let i = 0; i < naiveDraws; i++) naiveDraw(rng, reference, i % 2 ? alternative : reference);
const naivePerDraw = (performance.now() - t0) / 1000 / naiveDraws;
const naiveSeconds = naivePerDraw * (b + sims);

const report = { bench: 'power-cell', b, sims, m, nPerSide: n, L, metSeconds, naiveSecondsExtrapolated: naiveSeconds, naiveDrawsTimed: naiveDraws, speedup: naiveSeconds / metSeconds, power: cell.power };
console.table([report]);
mkdirSync('bench/out', { recursive: true });
writeFileSync(`bench/out/power-${Date.now()}.json`, JSON.stringify(report, null, 2));
