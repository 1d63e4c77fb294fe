import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetError } from '../../common/errors';
import { PowerSimulator, simulateCompositePowerCell, simulateNulls, simulatePowerCell } from '../../stats/power';
import { Rng } from '../../stats/rng';
import type { EncodedSample } from '../../stats/types';
import { toyModel } from './data';
import { naiveDraw, naiveMmd } from './naive';

function restrict(s: EncodedSample, prompts: number[]): EncodedSample {
  const keep = [...s.prompts.keys()].filter((i) => prompts.includes(s.prompts[i]));
  const tokens = new Int32Array(keep.length * s.L);
  keep.forEach((i, k) => tokens.set(s.tokens.subarray(i * s.L, (i + 1) * s.L), k * s.L));
  return { ...s, prompts: Int32Array.from(keep, (i) => s.prompts[i]), tokens };
}

test('power rises with n for a shifted alternative; the reference-vs-reference cell stays near alpha', () => {
  const rng = new Rng(12);
  const reference = toyModel(rng, 5, 80);
  const alternative = toyModel(rng, 5, 80, 0.2);
  const sim = new PowerSimulator('mmd_hamming', { references: [reference], alternatives: [alternative] });
  const cell = (n: number, alt: number | undefined) =>
    sim.cell({ alternative: alt, n, sims: 100, alpha: 0.05, seed: 2, nulls: sim.nulls({ n, b: 300, seed: 1 }) });
  const small = cell(10, 0);
  const large = cell(100, 0);
  const nullCell = cell(100, undefined);
  assert.ok(large.power > small.power + 0.3, `power ${small.power} -> ${large.power}`);
  assert.ok(nullCell.power <= 0.12, `type-I error ${nullCell.power}`);
  assert.deepEqual(cell(100, 0), large, 'same seeds, same cell');
  assert.equal(large.rejections, Array.from(large.pvalues).filter((p) => p <= 0.05).length);
});

test('a cell is what drawing the rows from each simulation seed and recomputing gives', () => {
  const rng = new Rng(13);
  const reference = toyModel(rng, 3, 10, 0, 16);
  const alternative = toyModel(rng, 3, 12, 0.2, 16);
  const nulls = simulateNulls('mmd_hamming', reference, 30, { b: 100, seed: 4 });
  const cell = simulatePowerCell('mmd_hamming', reference, alternative, nulls, { n: 30, sims: 25, alpha: 0.05, seed: 5 });
  assert.equal(cell.seeds.length, 25);
  for (let s = 0; s < 25; s++) {
    const draws = new Rng(cell.seeds[s]);
    const x = naiveDraw(draws, reference, 30, [0, 1, 2]);
    const y = naiveDraw(draws, alternative, 30, [0, 1, 2]);
    const expected = naiveMmd(x, y, { kind: 'hamming' });
    assert.equal(cell.statistics[s], expected, `simulation ${s}`);
    assert.equal(cell.pvalues[s], Array.from(nulls).filter((v) => v >= expected).length / nulls.length);
  }
});

test('null statistics are the same from a simulator holding only the reference or also alternatives (safe to cache)', () => {
  const rng = new Rng(14);
  const reference = toyModel(rng, 4, 30);
  const alternatives = [toyModel(rng, 4, 25, 0.1), toyModel(rng, 4, 20, 0.2)];
  for (const name of ['mmd_hamming', 'mmd_kspectrum', 'two_sample_chi_squared'] as const) {
    const alone = simulateNulls(name, reference, 40, { b: 50, seed: 7 });
    const joint = new PowerSimulator(name, { references: [reference], alternatives }).nulls({ n: 40, b: 50, seed: 7 });
    assert.deepEqual(joint, alone, name);
  }
});

test('a prompt subset draws over those prompts only, as if the pool held nothing else', () => {
  const rng = new Rng(15);
  const reference = toyModel(rng, 6, 20);
  const subset = [1, 4, 5];
  const fromFull = simulateNulls('mmd_hamming', reference, 30, { b: 40, seed: 3, prompts: subset });
  const fromRestricted = simulateNulls('mmd_hamming', restrict(reference, subset), 30, { b: 40, seed: 3, prompts: subset });
  assert.deepEqual(fromFull, fromRestricted);
  assert.notDeepEqual(fromFull, simulateNulls('mmd_hamming', reference, 30, { b: 40, seed: 3 }));
});

test('composite null: reject only when both references reject', () => {
  const rng = new Rng(16);
  const p1 = toyModel(rng, 4, 100);
  const p2 = toyModel(rng, 4, 100, 0.05);
  const far = toyModel(rng, 4, 100, 0.25);
  const n = 200;
  const nulls: [Float64Array, Float64Array] = [
    simulateNulls('mmd_hamming', p1, n, { b: 200, seed: 1 }),
    simulateNulls('mmd_hamming', p2, n, { b: 200, seed: 2 }),
  ];
  const options = { n, sims: 60, alpha: 0.05, seed: 3 };
  const detected = simulateCompositePowerCell('mmd_hamming', [p1, p2], far, nulls, options);
  const acceptable = simulateCompositePowerCell('mmd_hamming', [p1, p2], p2, nulls, options);
  assert.ok(detected.power >= 0.8, `far alternative: ${detected.power}`);
  assert.ok(acceptable.power <= 0.15, `P2 itself is acceptable: ${acceptable.power}`);
  for (const cell of [detected, acceptable]) {
    let both = 0;
    for (let s = 0; s < cell.sims; s++) if (cell.pvalues[0][s] <= 0.05 && cell.pvalues[1][s] <= 0.05) both++;
    assert.equal(cell.rejections, both);
  }
});

test('power errors say what to fix', () => {
  const rng = new Rng(17);
  const reference = toyModel(rng, 3, 10);
  const lacking = restrict(toyModel(rng, 3, 10), [0, 1]);
  const nulls = simulateNulls('mmd_hamming', reference, 20, { b: 20, seed: 1 });
  const is = (type: string, pattern: RegExp) => (e: unknown) => e instanceof MetError && e.type === type && pattern.test(e.message);
  assert.throws(
    () => simulatePowerCell('mmd_hamming', reference, lacking, nulls, { n: 20, sims: 5, alpha: 0.05, seed: 1 }),
    is('MetTooFewSamples', /the alternative has no completion for prompt 2/),
  );
  assert.throws(() => simulateNulls('mmd_hamming', reference, 1, { b: 20, seed: 1 }), is('MetBadInput', /n \(rows per side\)/));
  assert.throws(() => simulateNulls('mmd_hamming', reference, 20, { b: 20, seed: 1, prompts: [0, 7] }), is('MetBadInput', /prompt 7 of the subset/));
  assert.throws(
    () => simulatePowerCell('mmd_hamming', reference, undefined, nulls, { n: 2, sims: 50, alpha: 0.05, seed: 1 }),
    is('MetTooFewSamples', /no prompt got two rows/),
  );
});
