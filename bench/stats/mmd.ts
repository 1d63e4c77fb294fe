/**
 * bench/stats: met's statistics engine against the original package's algorithm in the same run
 * (bench/stats/naive.ts: full kernel matrices over all pairs, recomputed for every permutation).
 * Synthetic text-like completions (bench/stats/textModel.ts), m = 25 prompts, L = 1,000.
 *   (a) one mmd_hamming statistic at 250 and 1,000 rows per side
 *   (b) a 1,000-permutation mmd_hamming test at 250 rows per side, one thread and two; the naive
 *       test runs a few permutations (the same ones: checked equal) and is extrapolated to 1,000
 *   (c) peak RSS of one statistic and a permutation test at 10,000 rows per side (a child process)
 *   (d) one mmd_kspectrum (k = 5) statistic at 250 rows per side vs string-keyed k-gram counters
 * Quick by default (250 rows only, few naive permutations, (c) and (d) skipped);
 * `--full` or MET_BENCH_FULL=1 for everything.
 *   node --import tsx bench/stats/mmd.ts [--full]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { permutationTest, Rng, statistic, twoSampleTestParallel, type EncodedSample } from '../../stats';
import { originalMmdHamming, originalPermutations } from './naive';
import { textSample } from './textModel';

const L = 1000;
const m = 25;
const full = process.argv.includes('--full') || process.env.MET_BENCH_FULL === '1';

function time<T>(fn: () => T): { value: T; seconds: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

async function timeAsync<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

/** Child process: one statistic and a permutation test at 10,000 rows per side; prints JSON. */
async function memoryChild(): Promise<void> {
  const rng = new Rng(3);
  const x = textSample(rng, m, 400, L);
  const y = textSample(rng, m, 400, L);
  const afterData = process.resourceUsage().maxRSS / 1024;
  const one = time(() => statistic('mmd_hamming', x, y));
  const b = Number(process.env.MET_BENCH_B ?? 200);
  const perm = await timeAsync(() => twoSampleTestParallel({ x, y, stat: 'mmd_hamming', pvalue: 'permutation', b, seed: 1 }, { threads: 2 }));
  process.stdout.write(
    JSON.stringify({
      statisticSeconds: one.seconds,
      permutationSeconds: perm.seconds,
      b,
      dataRssMb: afterData,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      pvalue: perm.value.pvalue,
    }),
  );
}

interface Row {
  case: string;
  met_s: number;
  naive_s: number;
  speedup: number;
  note: string;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const extra: Record<string, unknown> = {};
  const rng = new Rng(1);

  // (a) one statistic
  for (const perSide of full ? [250, 1000] : [250]) {
    const x = textSample(rng, m, perSide / m, L);
    const y = textSample(rng, m, perSide / m, L);
    statistic('mmd_hamming', x, y); // warm-up (JIT)
    const met = time(() => statistic('mmd_hamming', x, y));
    const naive = time(() => originalMmdHamming(x, y));
    if (Math.abs(met.value - naive.value) > 1e-12 * Math.max(1, Math.abs(naive.value))) throw new Error(`(a) met ${met.value} != naive ${naive.value}`);
    rows.push({
      case: `(a) mmd_hamming, ${perSide}/side`,
      met_s: met.seconds,
      naive_s: naive.seconds,
      speedup: naive.seconds / met.seconds,
      note: 'values equal to 1e-12',
    });
  }

  // (b) 1,000-permutation test at 250 per side
  {
    const x = textSample(rng, m, 10, L);
    const y = textSample(rng, m, 10, L);
    const b = 1000;
    const naiveCount = full ? 10 : 3;
    const one = time(() => permutationTest('mmd_hamming', x, y, { b, seed: 7 }));
    const two = await timeAsync(() => twoSampleTestParallel({ x, y, stat: 'mmd_hamming', pvalue: 'permutation', b, seed: 7 }, { threads: 2 }));
    const naive = time(() => originalPermutations(x, y, 7, naiveCount));
    for (let t = 0; t < naiveCount; t++) {
      if (Math.abs(naive.value[t] - one.value.nulls[t]) > 1e-12) throw new Error(`(b) permutation ${t}: met ${one.value.nulls[t]} != naive ${naive.value[t]}`);
    }
    if (two.value.pvalue !== one.value.pvalue) throw new Error('(b) two threads gave another p-value');
    const naiveFull = (naive.seconds / naiveCount) * b;
    rows.push({
      case: `(b) ${b}-permutation test, 250/side, 1 thread`,
      met_s: one.seconds,
      naive_s: naiveFull,
      speedup: naiveFull / one.seconds,
      note: `naive: ${naiveCount} permutations x ${b / naiveCount} (same nulls)`,
    });
    rows.push({
      case: `(b) ${b}-permutation test, 250/side, parallel API`,
      met_s: two.seconds,
      naive_s: naiveFull,
      speedup: naiveFull / two.seconds,
      note: 'threads: 2; too small to start workers',
    });
    extra.b = { pvalue: one.value.pvalue };
  }

  // (d) k-spectrum statistic vs string-keyed k-gram counters (the original's Counter of tuples)
  if (full) {
    const x = textSample(rng, m, 10, L);
    const y = textSample(rng, m, 10, L);
    const met = time(() => statistic('mmd_kspectrum', x, y));
    const naive = time(() => naiveKspectrum(x, y));
    if (Math.abs(met.value - naive.value) > 1e-12 * Math.max(1, Math.abs(naive.value))) throw new Error(`(d) met ${met.value} != naive ${naive.value}`);
    rows.push({
      case: '(d) mmd_kspectrum k=5, 250/side',
      met_s: met.seconds,
      naive_s: naive.seconds,
      speedup: naive.seconds / met.seconds,
      note: 'naive: string-keyed counters',
    });
  }

  // (c) memory at 10,000 per side, in a clean child process
  if (full) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--memory-child'], {
      encoding: 'utf8',
      env: { ...process.env, MET_BENCH_B: '1000' },
    });
    const r = JSON.parse(out);
    extra.memory10k = r;
    rows.push({
      case: '(c) 10,000/side: one statistic',
      met_s: r.statisticSeconds,
      naive_s: NaN,
      speedup: NaN,
      note: `peak RSS ${Math.round(r.peakRssMb)} MB (data alone ${Math.round(r.dataRssMb)} MB)`,
    });
    rows.push({
      case: `(c) 10,000/side: ${r.b}-permutation test, 2 threads`,
      met_s: r.permutationSeconds,
      naive_s: NaN,
      speedup: NaN,
      note: `peak RSS ${Math.round(r.peakRssMb)} MB`,
    });
  }

  console.table(rows.map((r) => ({ ...r, met_s: round(r.met_s), naive_s: round(r.naive_s), speedup: round(r.speedup, 1) })));
  console.log(
    'The original package (numpy, met-statistics.md, not measured here): 0.28 s at 250/side, 4.4 s at 1,000/side, ~5 min for the 1,000-permutation test.',
  );
  mkdirSync('bench/out', { recursive: true });
  const file = `bench/out/stats-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(
    file,
    JSON.stringify({ bench: 'stats', full, node: process.version, cpu: cpus()[0]?.model, threads: availableParallelism(), rows, ...extra }, null, 2),
  );
  console.log(`wrote ${file}`);
}

function round(v: number, digits = 4): number {
  return Number.isFinite(v) ? Number(v.toPrecision(digits)) : v;
}

/** The original's k-spectrum: a Counter of k-gram tuples per row (string keys here), dot products per pair. */
function naiveKspectrum(x: EncodedSample, y: EncodedSample): number {
  const spectrum = (s: EncodedSample, i: number) => {
    const row = Array.from(s.tokens.subarray(i * s.L, (i + 1) * s.L));
    const c = new Map<string, number>();
    for (let k = 1; k <= 5; k++)
      for (let p = 0; p + k <= row.length; p++) {
        const key = row.slice(p, p + k).join(',');
        c.set(key, (c.get(key) ?? 0) + 1);
      }
    return c;
  };
  const sx = Array.from({ length: x.prompts.length }, (_, i) => spectrum(x, i));
  const sy = Array.from({ length: y.prompts.length }, (_, i) => spectrum(y, i));
  const dot = (a: Map<string, number>, b: Map<string, number>) => {
    let s = 0;
    for (const [key, c] of a) s += c * (b.get(key) ?? 0);
    return s;
  };
  const nx = sx.map((s) => Math.sqrt(dot(s, s)));
  const ny = sy.map((s) => Math.sqrt(dot(s, s)));
  let sxx = 0,
    sxy = 0,
    syy = 0,
    dxx = 0,
    dxy = 0,
    dyy = 0;
  for (let i = 0; i < sx.length; i++) {
    for (let j = 0; j < sx.length; j++)
      if (i !== j && x.prompts[i] === x.prompts[j]) {
        sxx += dot(sx[i], sx[j]) / (nx[i] * nx[j]);
        dxx++;
      }
    for (let j = 0; j < sy.length; j++)
      if (x.prompts[i] === y.prompts[j]) {
        sxy += dot(sx[i], sy[j]) / (nx[i] * ny[j]);
        dxy++;
      }
  }
  for (let i = 0; i < sy.length; i++)
    for (let j = 0; j < sy.length; j++)
      if (i !== j && y.prompts[i] === y.prompts[j]) {
        syy += dot(sy[i], sy[j]) / (ny[i] * ny[j]);
        dyy++;
      }
  return sxx / dxx - (2 * sxy) / dxy + syy / dyy;
}

if (process.argv.includes('--memory-child')) await memoryChild();
else await main();
