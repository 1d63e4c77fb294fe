/**
 * bench/power/tiny: the tiny-model power tables of docs/results.md at 500 simulations per cell,
 * with the calibration beside them (issue #26). Pools of completions (24 tokens, temperature 1) for
 * 10 prompts from met's tiny F32 and Q4_0 models, every completion scored under F32; RUT (k = 20,
 * three scores) and MMD-Hamming (b permutations, L = 100 characters) on the same draws at equal API
 * budgets, Q4_0 mixed in per request at shares 0 to 1. Each table also has the independent-pool
 * control (stats/pool.ts poolHalf: the F32 pool split into alternate halves with their own seeds,
 * half A the reference, half B the endpoint), and every null cell shows its 95% Wilson interval.
 * Run once with the pools the suite uses (50 per prompt) and once with larger ones.
 *
 *   node --import tsx bench/power/tiny.ts [--pools 50,200] [--sims 500] [--b 200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';
import { wilsonInterval } from '../../report/binomial';
import { mixturePower, type ScoredPool } from '../../stats/mixture';
import { poolHalf } from '../../stats/pool';
import { RUT_SCORES, type RutScore } from '../../stats/rut';
import { type Pool, samplePool, scoredPool } from '../../test/power/tinyPools';

const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const POOLS = arg('pools', '50,200').split(',').map(Number);
const SIMS = Number(arg('sims', '500'));
const B = Number(arg('b', '200'));
const PROMPTS = 10;
const L = 100;
const ALPHA = 0.05;
const SHARES = [0, 0.1, 0.25, 0.5, 1];
const PER_PROMPT = [2, 5];

const dir = mkdtempSync(join(tmpdir(), 'met-bench-tiny-'));
const largest = Math.max(...POOLS);
const t0 = performance.now();
const paths = writeTinyModels(join(dir, 'models'));
const f32 = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32' });
const q4 = await loadLlamaBackend({ path: paths.nf4, precision: 'nf4' });
const full = { fp32: await samplePool(f32, f32, 0, PROMPTS, largest), nf4: await samplePool(q4, f32, 90_000_000, PROMPTS, largest) };
await q4.close();
await f32.close();
rmSync(dir, { recursive: true, force: true });
const samplingSeconds = (performance.now() - t0) / 1000;

/** The first `size` completions of each prompt (the pools are sampled prompt by prompt, seeds in order). */
function firstOfEach(pool: Pool, size: number): Pool {
  const keep = pool.prompts.map((p, i) => i - p * largest < size);
  const pick = <T>(xs: T[]) => xs.filter((_, i) => keep[i]);
  return {
    texts: pick(pool.texts),
    prompts: pick(pool.prompts),
    tokenIds: pick(pool.tokenIds),
    logprobs: pick(pool.logprobs),
    seeds: pick(pool.seeds),
    scores: Object.fromEntries(RUT_SCORES.map((s) => [s, pick(pool.scores[s])])) as Record<RutScore, number[]>,
  };
}

const cell = (rejections: number, sims: number, isNull: boolean) => {
  const rate = rejections / sims;
  if (!isNull) return rate.toFixed(2);
  const ci = wilsonInterval(rejections, sims);
  const flag = ci.lo > ALPHA ? ' ⚠' : '';
  return `${rate.toFixed(3)} [${ci.lo.toFixed(3)}, ${ci.hi.toFixed(3)}]${flag}`;
};

const out: string[] = [];
for (const size of POOLS) {
  const started = performance.now();
  const pools = { fp32: firstOfEach(full.fp32, size), nf4: firstOfEach(full.nf4, size) };
  const scored = (pool: Pool, score: RutScore): ScoredPool => scoredPool(pool, score, L, PROMPTS);
  out.push(`\n#### Pools of ${size} completions per prompt (${size * PROMPTS} per precision), ${SIMS} simulations per cell, b = ${B}\n`);
  out.push(`| budget (API calls) | test | control (F32 half B vs half A, ${size / 2} each) | ${SHARES.map((s) => `Q4_0 share ${s}`).join(' | ')} |`);
  out.push(`|---|---|---|${SHARES.map(() => '---|').join('')}`);
  for (const perPrompt of PER_PROMPT) {
    const rows = new Map<string, string[]>();
    const add = (name: string, value: string) => rows.set(name, [...(rows.get(name) ?? []), value]);
    const request = { perPrompt, k: 20, sims: SIMS, b: B, alpha: ALPHA, seed: 7 };
    // The control: the reference's own half A against an endpoint serving half B (other seeds, same set-up).
    for (const score of RUT_SCORES) {
      const ref = scored(pools.fp32, score);
      const [a, b] = [poolHalf(ref.sample, 0, ref.scores) as ScoredPool, poolHalf(ref.sample, 1, ref.scores) as ScoredPool];
      const tests = score === 'sum_logprob' ? (['rut', 'mmd_hamming'] as const) : (['rut'] as const);
      const r = mixturePower({ ...request, reference: a, mixture: [{ pool: b, weight: 1 }], tests: [...tests] });
      add(`RUT ${score}`, cell(r.tests.rut.rejections, r.sims, true));
      if (score === 'sum_logprob') add('MMD-Hamming', cell(r.tests.mmd_hamming.rejections, r.sims, true));
      if (score === 'sum_logprob') {
        const wide = mixturePower({
          ...request,
          reference: a,
          mixture: [{ pool: b, weight: 1 }],
          tests: ['mmd_hamming'],
          xPerPrompt: Math.min(20 * perPrompt, size / 2),
        });
        add('MMD-Hamming, wide X', cell(wide.tests.mmd_hamming.rejections, wide.sims, true));
      }
    }
    for (const share of SHARES) {
      const mixture = (score: RutScore) => [
        { pool: scored(pools.fp32, score), weight: 1 - share },
        { pool: scored(pools.nf4, score), weight: share },
      ];
      const isNull = share === 0;
      const main = mixturePower({ ...request, reference: scored(pools.fp32, 'sum_logprob'), mixture: mixture('sum_logprob'), tests: ['rut', 'mmd_hamming'] });
      add('RUT sum_logprob', cell(main.tests.rut.rejections, main.sims, isNull));
      add('MMD-Hamming', cell(main.tests.mmd_hamming.rejections, main.sims, isNull));
      const wide = mixturePower({
        ...request,
        reference: scored(pools.fp32, 'sum_logprob'),
        mixture: mixture('sum_logprob'),
        tests: ['mmd_hamming'],
        xPerPrompt: Math.min(20 * perPrompt, size),
      });
      add('MMD-Hamming, wide X', cell(wide.tests.mmd_hamming.rejections, wide.sims, isNull));
      for (const score of ['mean_logprob', 'log_rank'] as const) {
        const r = mixturePower({ ...request, reference: scored(pools.fp32, score), mixture: mixture(score), tests: ['rut'] });
        add(`RUT ${score}`, cell(r.tests.rut.rejections, r.sims, isNull));
      }
    }
    for (const name of ['RUT sum_logprob', 'RUT mean_logprob', 'RUT log_rank', 'MMD-Hamming', 'MMD-Hamming, wide X'])
      out.push(`| ${perPrompt * PROMPTS} | ${name} | ${rows.get(name)!.join(' | ')} |`);
  }
  out.push(`\n(${((performance.now() - started) / 1000).toFixed(0)} s of simulation)`);
}
console.log(
  `Sampling ${largest} completions per prompt from each of F32 and Q4_0 (10 prompts, 24 tokens) and scoring them under F32: ${samplingSeconds.toFixed(0)} s.`,
);
console.log('Null cells (the control and share 0): rejection rate [95% Wilson interval]; ⚠ marks an interval wholly above alpha = 0.05.');
console.log(out.join('\n'));
