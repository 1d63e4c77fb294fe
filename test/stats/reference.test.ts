import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeChars } from '../../stats/encode';
import { statistic, type TwoSampleStatistic } from '../../stats/statistics';

/** Reference values computed with the original package (../shared/reference/met-statistics.md). */
function close(actual: number, expected: number, rel: number, what: string) {
  const tol = Math.max(Math.abs(expected) * rel, rel * 1e-3);
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tolerance ${tol})`);
}

const A = {
  x: { prompts: [0, 1, 0], completions: ['...a time to be born and a time to die', "'Laughter,' I said, 'is madness.'", '...a time to weep and a time to laugh'] },
  y: { prompts: [0, 0, 1], completions: ['...a time to mourn and a time to dance', '...a time to embrace and a time to refrain from embracing', "I said to myself, 'Come now, I will test you'"] },
};
const C = {
  x: { prompts: [0, 0, 1, 1], completions: ['abc', 'abd', 'xy', 'xy'] },
  y: { prompts: [0, 0, 0, 1, 1], completions: ['abc', 'b', 'abc', 'xz', 'x'] },
};

function run(c: typeof A, L: number, name: TwoSampleStatistic, options = {}) {
  return statistic(name, encodeChars(c.x.prompts, c.x.completions, L, 2), encodeChars(c.y.prompts, c.y.completions, L, 2), options);
}

test('A: the package README example', () => {
  close(run(A, 200, 'mmd_hamming'), 0.008, 1e-12, 'mmd_hamming L=200');
  close(run(A, 57, 'mmd_hamming'), 0.0280701754385965, 1e-12, 'mmd_hamming L=57');
  close(run(A, 1000, 'mmd_hamming'), 0.0016, 1e-12, 'mmd_hamming L=1000');
  close(run(A, 200, 'mmd_kspectrum'), 1.4366585235e-4, 1e-9, 'mmd_kspectrum L=200');
  close(run(A, 57, 'mmd_kspectrum'), -0.0571508836, 1e-9, 'mmd_kspectrum L=57');
  close(run(A, 1000, 'mmd_kspectrum'), 4.8297609e-6, 1e-7, 'mmd_kspectrum L=1000');
  close(run(A, 200, 'mmd_all_subsequences'), -4.893215463e-4, 1e-9, 'mmd_all_subsequences L=200');
  close(run(A, 200, 'two_sample_L1'), 2.0, 1e-6, 'L1');
  close(run(A, 200, 'two_sample_L2'), 0.6666667, 1e-6, 'L2');
  close(run(A, 200, 'two_sample_chi_squared'), 0.0, 1e-6, 'chi2');
});

test('C: a small case, L = 4', () => {
  close(run(C, 4, 'mmd_hamming'), 0.0375, 1e-12, 'mmd_hamming');
  close(run(C, 4, 'mmd_kspectrum'), 0.12795837434562818, 1e-12, 'mmd_kspectrum k=5');
  close(run(C, 4, 'mmd_all_subsequences'), 0.12795837434562818, 1e-12, 'all_subsequences');
  close(run(C, 4, 'mmd_kspectrum', { k: 2, cumulative: false }), 0.1725403330758516, 1e-12, 'kspectrum k=2 non-cumulative');
  close(run(C, 4, 'two_sample_L1'), 1.5, 1e-6, 'L1');
  close(run(C, 4, 'two_sample_L2'), 0.455, 1e-6, 'L2');
  close(run(C, 4, 'two_sample_chi_squared'), 9.0, 1e-6, 'chi2');
});

test('code points, not UTF-16 units: "😀a" is two positions', () => {
  const e = encodeChars([0], ['😀a'], 4);
  assert.deepEqual([...e.tokens], [128512, 97, -1, -1]);
});
