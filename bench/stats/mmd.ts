/**
 * bench/stats: the statistics engine against the naive method in the same run. The naive method is
 * the original package's: every permutation rebuilds the kernel of the relabelled samples from the
 * rows. Reported as ratios (the machine is shared and noisy).
 *   (a) one mmd_hamming statistic, m = 25 prompts, 250 and 1,000 rows per side, L = 1,000
 *   (b) a 1,000-permutation mmd_hamming test at 250 rows per side (naive: fewer permutations, extrapolated)
 *   (c) peak memory at 10,000 rows per side (one statistic)
 *   node --import tsx bench/stats/mmd.ts [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { encodeChars, permutationTest, Rng, statistic, type EncodedSample } from '../../stats';

const quick = process.argv.includes('--quick');
const L = 1000;
const m = 25;

/** Text-like completions: a character bigram chain, lengths 200..1000, some prompt-specific. */
function sample(rng: Rng, perPrompt: number): EncodedSample {
  const alphabet = 'etaoin shrdlucmfwypvbgkjqxz.,';
  const prompts: number[] = [];
  const completions: string[] = [];
  for (let r = 0; r < m; r++) {
    for (let s = 0; s < perPrompt; s++) {
      const len = 200 + rng.int(801);
      let prev = r % alphabet.length;
      let text = `Prompt ${r}: `;
      for (let i = 0; i < len; i++) {
        prev = rng.float() < 0.6 ? (prev * 7 + 3) % alphabet.length : rng.int(alphabet.length);
        text += alphabet[prev];
      }
      prompts.push(r);
      completions.push(text);
    }
  }
  return encodeChars(prompts, completions, L, m);
}

/** The original's way: relabel, copy the rows into new samples, recompute the statistic from scratch. */
function naivePermutations(x: EncodedSample, y: EncodedSample, b: number, seed: number): number {
  const rng = new Rng(seed);
  const n1 = x.prompts.length;
  const n = n1 + y.prompts.length;
  const prompts = Int32Array.from([...x.prompts, ...y.prompts]);
  const tokens = new Int32Array(n * L);
  tokens.set(x.tokens, 0);
  tokens.set(y.tokens, n1 * L);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const observed = statistic('mmd_hamming', x, y);
  let ge = 0;
  for (let t = 0; t < b; t++) {
    rng.shuffle(order);
    const build = (ids: Int32Array) => {
      const tk = new Int32Array(ids.length * L);
      ids.forEach((id, k) => tk.set(tokens.subarray(id * L, (id + 1) * L), k * L));
      return { L, m, prompts: Int32Array.from(ids, (id) => prompts[id]), tokens: tk };
    };
    if (naiveStatistic(build(order.subarray(0, n1)), build(order.subarray(n1))) >= observed) ge++;
  }
  return ge / b;
}

/** Full-length Hamming over every same-prompt pair, no pooled blocks, no length shortcut. */
function naiveStatistic(x: EncodedSample, y: EncodedSample): number {
  const k = (a: EncodedSample, i: number, b: EncodedSample, j: number) => {
    let same = 0;
    for (let l = 0; l < L; l++) if (a.tokens[i * L + l] === b.tokens[j * L + l]) same++;
    return same / L;
  };
  let sxx = 0, syy = 0, sxy = 0, dxx = 0, dyy = 0, dxy = 0;
  for (let i = 0; i < x.prompts.length; i++) {
    for (let j = 0; j < x.prompts.length; j++) if (i !== j && x.prompts[i] === x.prompts[j]) { sxx += k(x, i, x, j); dxx++; }
    for (let j = 0; j < y.prompts.length; j++) if (x.prompts[i] === y.prompts[j]) { sxy += k(x, i, y, j); dxy++; }
  }
  for (let i = 0; i < y.prompts.length; i++) for (let j = 0; j < y.prompts.length; j++) if (i !== j && y.prompts[i] === y.prompts[j]) { syy += k(y, i, y, j); dyy++; }
  return sxx / dxx - (2 * sxy) / dxy + syy / dyy;
}

function time<T>(fn: () => T): { value: T; seconds: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

const rng = new Rng(1);
const rows: Record<string, unknown>[] = [];
for (const perSide of quick ? [250] : [250, 1000]) {
  const x = sample(rng, perSide / m);
  const y = sample(rng, perSide / m);
  const fast = time(() => statistic('mmd_hamming', x, y));
  const naive = time(() => naiveStatistic(x, y));
  if (Math.abs(fast.value - naive.value) > 1e-12) throw new Error(`fast ${fast.value} != naive ${naive.value}`);
  rows.push({ case: `(a) one statistic, ${perSide}/side`, metSeconds: fast.seconds, naiveSeconds: naive.seconds, speedup: naive.seconds / fast.seconds });
}
{
  const x = sample(rng, 10);
  const y = sample(rng, 10);
  const b = 1000;
  const naiveB = quick ? 5 : 20;
  const fast = time(() => permutationTest('mmd_hamming', x, y, { b, seed: 3 }));
  const naive = time(() => naivePermutations(x, y, naiveB, 3));
  const naiveFull = (naive.seconds / naiveB) * b;
  rows.push({ case: `(b) ${b}-permutation test, 250/side (naive: ${naiveB} perms, extrapolated)`, metSeconds: fast.seconds, naiveSeconds: naiveFull, speedup: naiveFull / fast.seconds });
}
if (!quick) {
  const before = process.memoryUsage().rss;
  const x = sample(rng, 400);
  const y = sample(rng, 400);
  const fast = time(() => statistic('mmd_hamming', x, y));
  rows.push({ case: '(c) one statistic, 10,000/side', metSeconds: fast.seconds, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), rssGrowthMb: Math.round((process.memoryUsage().rss - before) / 2 ** 20) });
}
console.table(rows);
mkdirSync('bench/out', { recursive: true });
writeFileSync(`bench/out/stats-${Date.now()}.json`, JSON.stringify(rows, null, 2));
