import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeChars, encodeTokens } from '../../stats/encode';
import { statistic, type StatisticOptions, type TwoSampleStatistic } from '../../stats/statistics';

/**
 * Every reference value of ../shared/reference/met-statistics.md (computed with the original
 * package). Expected values are the documented literals: MMD to 1e-12 relative or to half a unit of
 * the literal's last printed digit when it has fewer digits; count statistics to 1e-6.
 */
function close(actual: number, literal: string, relative: number, what: string) {
  const expected = Number(literal);
  const [mantissa, exponent = '0'] = literal.toLowerCase().split('e');
  const decimals = mantissa.includes('.') ? mantissa.split('.')[1].length : 0;
  const significant = mantissa.replace(/[-.]/g, '').replace(/^0+/, '').length;
  // A literal printed with 7+ significant digits was cut by the printer: allow half its last digit.
  const printed = significant >= 7 ? 0.5 * 10 ** (Number(exponent) - decimals) : 0;
  const tolerance = Math.max(relative * Math.abs(expected), printed, relative === COUNT ? COUNT : 0);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${literal} (tolerance ${tolerance})`);
}

const MMD = 1e-12;
const COUNT = 1e-6;

const A = {
  x: {
    prompts: [0, 1, 0],
    completions: ['...a time to be born and a time to die', "'Laughter,' I said, 'is madness.'", '...a time to weep and a time to laugh'],
  },
  y: {
    prompts: [0, 0, 1],
    completions: [
      '...a time to mourn and a time to dance',
      '...a time to embrace and a time to refrain from embracing',
      "I said to myself, 'Come now, I will test you'",
    ],
  },
};
const C = {
  x: { prompts: [0, 0, 1, 1], completions: ['abc', 'abd', 'xy', 'xy'] },
  y: { prompts: [0, 0, 0, 1, 1], completions: ['abc', 'b', 'abc', 'xz', 'x'] },
};

function run(c: typeof A, L: number, name: TwoSampleStatistic, options: StatisticOptions = {}) {
  return statistic(name, encodeChars(c.x.prompts, c.x.completions, L, 2), encodeChars(c.y.prompts, c.y.completions, L, 2), options);
}

test('A: the package README example (L = 200, 57, 1000)', () => {
  close(run(A, 200, 'mmd_hamming'), '0.008', MMD, 'mmd_hamming L=200');
  close(run(A, 57, 'mmd_hamming'), '0.0280701754385965', MMD, 'mmd_hamming L=57');
  close(run(A, 1000, 'mmd_hamming'), '0.0016', MMD, 'mmd_hamming L=1000');
  close(run(A, 200, 'mmd_kspectrum'), '1.4366585235e-4', MMD, 'mmd_kspectrum k=5 cumulative L=200');
  close(run(A, 57, 'mmd_kspectrum'), '-0.0571508836', MMD, 'mmd_kspectrum L=57');
  close(run(A, 1000, 'mmd_kspectrum'), '4.8297609e-6', MMD, 'mmd_kspectrum L=1000');
  close(run(A, 200, 'mmd_all_subsequences'), '-4.893215463e-4', MMD, 'mmd_all_subsequences L=200');
  close(run(A, 200, 'two_sample_L1'), '2.0', COUNT, 'two_sample_L1');
  close(run(A, 200, 'two_sample_L2'), '0.6666667', COUNT, 'two_sample_L2');
  close(run(A, 200, 'two_sample_chi_squared'), '0.0', COUNT, 'two_sample_chi_squared');
});

test('C: a small case, L = 4', () => {
  close(run(C, 4, 'mmd_hamming'), '0.0375', MMD, 'mmd_hamming');
  close(run(C, 4, 'mmd_kspectrum'), '0.12795837434562818', MMD, 'mmd_kspectrum k=5 cumulative');
  close(run(C, 4, 'mmd_all_subsequences'), '0.12795837434562818', MMD, 'all_subsequences (k >= L)');
  close(run(C, 4, 'mmd_kspectrum', { k: 2, cumulative: false }), '0.1725403330758516', MMD, 'kspectrum k=2 non-cumulative');
  close(run(C, 4, 'two_sample_L1'), '1.5', COUNT, 'two_sample_L1');
  close(run(C, 4, 'two_sample_L2'), '0.455', COUNT, 'two_sample_L2');
  close(run(C, 4, 'two_sample_chi_squared'), '9.0', COUNT, 'two_sample_chi_squared');
});

test('all_subsequences is the cumulative k-spectrum at k = L (and any k beyond L)', () => {
  const viaName = run(A, 57, 'mmd_all_subsequences');
  assert.equal(run(A, 57, 'mmd_kspectrum', { k: 57 }), viaName);
  assert.equal(run(A, 57, 'mmd_kspectrum', { k: 500 }), viaName);
  assert.notEqual(run(A, 57, 'mmd_kspectrum', { k: 56 }), viaName);
});

test('code points, not UTF-16 units; truncation to L; pad -1', () => {
  assert.deepEqual([...encodeChars([0], ['😀a'], 4).tokens], [128512, 97, -1, -1]);
  assert.deepEqual([...encodeChars([0], ['abcdef'], 3).tokens], [97, 98, 99]);
  assert.deepEqual([...encodeChars([0], ['é\u0301'], 3).tokens], [233, 769, -1], 'no normalization');
  assert.deepEqual([...encodeChars([0], [' a '], 4).tokens], [32, 97, 32, -1], 'no trimming');
});

test('token unit: everything after the first EOS becomes the pad; EOS first or absent leaves the row', () => {
  const e = encodeTokens(
    [0, 0, 0, 0],
    [
      [5, 2, 7, 2, 9],
      [2, 5, 2, 6],
      [5, 6, 7],
      [5, 6, 7, 8, 9, 10],
    ],
    5,
    { eos: 2, pad: 0 },
  );
  assert.deepEqual(Array.from(e.tokens), [5, 2, 0, 0, 0, 2, 5, 2, 6, 0, 5, 6, 7, 0, 0, 5, 6, 7, 8, 9]);
  assert.equal(e.pad, 0);
});
