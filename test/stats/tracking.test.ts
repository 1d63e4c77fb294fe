import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../stats/rng';
import { probeDistances, seededProbeIndices, type TopLogprobs, trackingTest } from '../../stats/tracking';

const answer = (...pairs: [string, number][]): TopLogprobs => pairs;

test('probe distances align tokens over the union, a missing token at its list’s smallest logprob', () => {
  // Firing 0 lacks 'c' (floor -3), firing 1 lacks 'b' (floor -2).
  const d = probeDistances([answer(['a', -1], ['b', -3]), answer(['a', -1.5], ['c', -2])]);
  // Vectors over [a, b, c]: v0 = [-1, -3, -3], v1 = [-1.5, -2, -2]; with two firings each is compared with the other.
  const expected = (0.5 + 1 + 1) / 3;
  assert.ok(Math.abs(d[0] - expected) < 1e-12 && Math.abs(d[1] - expected) < 1e-12, String(d));
});

test('identical firings give statistic 0 and p = 1; a firing whose logprobs moved on every probe gets the smallest p', () => {
  const probes = (shift: number) => Array.from({ length: 6 }, (_, j) => answer([`t${j}`, -0.5 - shift], [`u${j}`, -1.5 + shift], ['x', -4]));
  const same = trackingTest([probes(0), probes(0)], probes(0), { b: 1000, seed: 1 });
  assert.equal(same.value, 0);
  assert.equal(same.pvalue, 1);
  // 3^6 = 729 labellings <= b: enumerated; only the observed labelling reaches the observed value.
  const moved = trackingTest([probes(0), probes(0)], probes(0.4), { b: 1000, seed: 1 });
  assert.equal(moved.exact, true);
  assert.equal(moved.b, 729);
  assert.ok(moved.value > 0);
  assert.equal(moved.pvalue, 1 / 729);
  // Drawn labellings when there are more than b: p = (1 + hits) / (1 + b), here 1 / 201.
  const drawn = trackingTest([probes(0), probes(0)], probes(0.4), { b: 200, seed: 1 });
  assert.equal(drawn.exact, false);
  assert.equal(drawn.pvalue, 1 / 201);
});

test('the exact p-value equals a brute-force count over every labelling', () => {
  const rng = new Rng(7);
  const noisy = () => Array.from({ length: 4 }, (_, j) => answer([`a${j}`, -1 + rng.float()], [`b${j}`, -2 + rng.float()]));
  const baseline = [noisy(), noisy()];
  const current = noisy();
  const r = trackingTest(baseline, current, { b: 100_000, seed: 0 });
  const d = current.map((c, j) => probeDistances([baseline[0][j], baseline[1][j], c]));
  let hits = 0;
  for (let t = 0; t < 81; t++) {
    const labels = [t % 3, Math.floor(t / 3) % 3, Math.floor(t / 9) % 3, Math.floor(t / 27) % 3];
    const s = labels.reduce((acc, l, j) => acc + d[j][l], 0) / 4;
    if (s >= r.value - 1e-12) hits++;
  }
  assert.equal(r.pvalue, hits / 81);
});

test('under the null (every firing the same model plus noise) the test rejects at about alpha', () => {
  const rng = new Rng(11);
  const base = Array.from({ length: 10 }, (_, j) => [`t${j}`, `u${j}`, `v${j}`].map((t, k): [string, number] => [t, -0.7 * (k + 1)]));
  const firing = () => base.map((p) => p.map(([t, lp]): [string, number] => [t, lp + 0.05 * (rng.float() - 0.5)]));
  let rejections = 0;
  const trials = 300;
  for (let i = 0; i < trials; i++) if (trackingTest([firing(), firing()], firing(), { b: 199, seed: i }).pvalue <= 0.05) rejections++;
  assert.ok(rejections / trials > 0.01 && rejections / trials < 0.1, `rejection rate ${rejections / trials}`);
});

test('the probe draw is seeded, in the prompts’ order, and takes every prompt when there are few', () => {
  assert.deepEqual(seededProbeIndices(5, 10, 3), [0, 1, 2, 3, 4]);
  const a = seededProbeIndices(100, 8, 3);
  assert.deepEqual(a, seededProbeIndices(100, 8, 3));
  assert.equal(new Set(a).size, 8);
  assert.deepEqual(
    a,
    [...a].sort((x, y) => x - y),
  );
  assert.notDeepEqual(a, seededProbeIndices(100, 8, 4));
  assert.throws(() => trackingTest([], [answer(['a', -1])], { b: 10, seed: 0 }), /at least one baseline firing/);
});
