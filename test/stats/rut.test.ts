import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MetError } from '../../common/errors';
import { Rng } from '../../stats/rng';
import {
  completionScore,
  cramerVonMises,
  cramerVonMisesCdf,
  cramerVonMisesPvalue,
  cvmAsymptoticCdf,
  percentileRank,
  percentileRanks,
  rutTest,
  scaledBesselK,
} from '../../stats/rut';

const root = new URL('../..', import.meta.url).pathname;
const SCIPY = join(root, '.tools/scipy');

/** 20 random cases: n from 2 to 300; uniform, skewed (u^a) and squeezed samples, so p spans (0, 1]. */
function randomCases(): number[][] {
  const rng = new Rng(2206);
  const cases: number[][] = [];
  for (let c = 0; c < 20; c++) {
    const n = [2, 3, 5, 8, 10, 20, 30, 50, 100, 300][c % 10];
    const shape = c < 10 ? 1 : [0.5, 0.7, 0.85, 1.2, 1.5, 2, 3][c % 7];
    const u: number[] = [];
    for (let i = 0; i < n; i++) u.push(rng.float() ** shape);
    if (c === 19) for (let i = 0; i < n; i++) u[i] = 0.4 + 0.2 * u[i]; // too concentrated: p near 0
    cases.push(u);
  }
  return cases;
}

test('the Cramér–von Mises statistic and p-value match scipy.stats.cramervonmises(x, "uniform") to 1e-6 on 20 random cases', () => {
  assert.ok(existsSync(SCIPY), `scipy is not installed in ${SCIPY}: run bash scripts/ensure-scipy.sh (.ci/run does)`);
  const cases = randomCases();
  const script = [
    'import json, sys',
    'from scipy.stats import cramervonmises',
    'cases = json.load(sys.stdin)',
    'out = []',
    'for u in cases:',
    '    r = cramervonmises(u, "uniform")',
    '    out.append([float(r.statistic), float(r.pvalue)])',
    'print(json.dumps(out))',
  ].join('\n');
  const py = spawnSync(process.env.MET_PYTHON ?? 'python3', ['-c', script], {
    input: JSON.stringify(cases),
    env: { ...process.env, PYTHONPATH: SCIPY },
    encoding: 'utf8',
  });
  assert.equal(py.status, 0, `python/scipy failed: ${py.stderr}`);
  const expected = JSON.parse(py.stdout) as [number, number][];
  assert.equal(expected.length, 20);
  let lowP = 0;
  let highP = 0;
  for (const [i, u] of cases.entries()) {
    const w = cramerVonMises(u);
    const p = cramerVonMisesPvalue(w, u.length);
    assert.ok(Math.abs(w - expected[i][0]) <= 1e-12 * Math.max(1, w), `case ${i} (n = ${u.length}): W² ${w} vs scipy ${expected[i][0]}`);
    assert.ok(Math.abs(p - expected[i][1]) <= 1e-6, `case ${i} (n = ${u.length}): p ${p} vs scipy ${expected[i][1]}`);
    if (p < 0.05) lowP++;
    if (p > 0.5) highP++;
  }
  assert.ok(lowP >= 3 && highP >= 3, `the cases cover small and large p-values (${lowP} below 0.05, ${highP} above 0.5)`);
});

test('the asymptotic Cramér–von Mises distribution has its tabulated quantiles (0.3473, 0.4614, 0.7435 at 0.90, 0.95, 0.99)', () => {
  // Anderson and Darling (1952), Table: asymptotic upper percentage points of n·ω².
  assert.ok(Math.abs(cvmAsymptoticCdf(0.3473) - 0.9) < 1e-4);
  assert.ok(Math.abs(cvmAsymptoticCdf(0.46136) - 0.95) < 1e-4);
  assert.ok(Math.abs(cvmAsymptoticCdf(0.74346) - 0.99) < 1e-4);
  // Finite n: support [1/(12n), n/3]; the 1/n correction shrinks as n grows.
  assert.equal(cramerVonMisesCdf(1 / 120, 10), 0);
  assert.equal(cramerVonMisesCdf(10 / 3, 10), 1);
  assert.ok(Math.abs(cramerVonMisesCdf(0.46136, 100000) - 0.95) < 1e-4);
  // e^z K_ν(z) at closed forms: K_{1/2}(z) = sqrt(π/(2z)) e^{-z}.
  for (const z of [1e-3, 0.1, 1, 7, 300]) assert.ok(Math.abs(scaledBesselK(0.5, z) / Math.sqrt(Math.PI / (2 * z)) - 1) < 1e-12, `K_1/2(${z})`);
});

test('randomized ties make the percentile rank exactly uniform for discrete scores (3 values, k = 5, 40,000 draws)', () => {
  const rng = new Rng(7);
  const draw = () => [0, 0, 0, 1, 1, 2][rng.int(6)]; // heavily tied scores
  const bins = new Int32Array(10);
  let naiveHigh = 0;
  const draws = 40_000;
  for (let t = 0; t < draws; t++) {
    const refs = [draw(), draw(), draw(), draw(), draw()];
    const s = draw();
    const u = percentileRank(s, refs, rng.float());
    assert.ok(u >= 0 && u < 1);
    bins[Math.floor(u * 10)]++;
    // Without the randomization (counting ties as below), ranks pile up high: the null is broken.
    if (percentileRank(s, refs, 0.999999) >= 0.5) naiveHigh++;
  }
  const expected = draws / 10;
  const sd = Math.sqrt(draws * 0.1 * 0.9);
  for (const [b, count] of bins.entries()) assert.ok(Math.abs(count - expected) < 4.5 * sd, `bin ${b}: ${count} vs ${expected}`);
  assert.ok(naiveHigh / draws > 0.6, `ties counted as below: ${naiveHigh / draws} of ranks >= 0.5`);
});

test('RUT: p-values are uniform under the null (continuous scores) and small under a shift', () => {
  const normal = (rng: Rng) => Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
  const run = (shift: number, seed: number) => {
    const rng = new Rng(seed);
    const n = 50;
    const k = 20;
    const target = new Float64Array(n);
    const reference = new Float64Array(n * k);
    const offsets = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) {
      const mu = i * 0.3; // prompts differ in location: ranks are within prompt
      target[i] = mu + shift + normal(rng);
      for (let j = 0; j < k; j++) reference[i * k + j] = mu + normal(rng);
      offsets[i + 1] = (i + 1) * k;
    }
    return rutTest({ target, reference, offsets, seed });
  };
  let nullRejects = 0;
  for (let s = 0; s < 400; s++) if (run(0, s).pvalue <= 0.05) nullRejects++;
  assert.ok(nullRejects >= 8 && nullRejects <= 32, `type-I error ${nullRejects / 400} at alpha 0.05`);
  let altRejects = 0;
  for (let s = 0; s < 100; s++) if (run(0.8, 1000 + s).pvalue <= 0.05) altRejects++;
  assert.ok(altRejects >= 90, `power ${altRejects / 100} against a 0.8 sd shift at n = 50`);
  const r = run(0, 1);
  assert.equal(r.n, 50);
  assert.equal(r.k, 20);
  assert.deepEqual(run(0, 1), r, 'a result is a function of its inputs and seed');
});

test('completion scores: sum and mean of token logprobs, mean log rank', () => {
  const tokens = { logprobs: [-1, -2, -0.5], ranks: [1, 4, 2] };
  assert.equal(completionScore('sum_logprob', tokens), -3.5);
  assert.equal(completionScore('mean_logprob', tokens), -3.5 / 3);
  assert.ok(Math.abs(completionScore('log_rank', tokens) - (Math.log(4) + Math.log(2)) / 3) < 1e-15);
  assert.equal(completionScore('mean_logprob', { logprobs: [] }), 0);
  assert.throws(() => completionScore('log_rank', { logprobs: [-1] }), MetError);
  assert.throws(() => completionScore('log_rank', { logprobs: [-1], ranks: [0] }), /1-based/);
});

test('RUT refuses inputs it cannot test, saying what to fix', () => {
  const ok = { target: new Float64Array([0, 1]), reference: new Float64Array([0, 1, 2]), offsets: new Int32Array([0, 2, 3]), seed: 1 };
  assert.equal(percentileRanks(ok).length, 2);
  assert.throws(() => rutTest({ ...ok, target: new Float64Array([0]), offsets: new Int32Array([0, 3]) }), /at least two prompts/);
  assert.throws(() => rutTest({ ...ok, offsets: new Int32Array([0, 3, 3]) }), /prompt 1 has 0 reference completions/);
  assert.throws(() => rutTest({ ...ok, offsets: new Int32Array([0, 3]) }), /offsets/);
  assert.throws(() => cramerVonMises([0.2, 1.5]), /outside \[0, 1\]/);
});
