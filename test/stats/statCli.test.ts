import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exited, spawnMet } from '../helpers/processes';
import { encodeChars } from '../../stats/encode';
import { oneSampleStatistic, observedCounts } from '../../stats/oneSample';

test('met stat reads the issue format and prints full-precision JSON with a p-value', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'met-stat-'));
  try {
    const input = join(dir, 'in.json');
    writeFileSync(
      input,
      JSON.stringify({
        L: 4,
        m: 2,
        unit: 'char',
        x: { prompts: [0, 0, 1, 1], completions: ['abc', 'abd', 'xy', 'xy'] },
        y: { prompts: [0, 0, 0, 1, 1], completions: ['abc', 'b', 'abc', 'xz', 'x'] },
        stats: ['mmd_hamming', 'two_sample_chi_squared'],
        pvalue: { type: 'permutation', stat: 'mmd_hamming', b: 100, seed: 1 },
      }),
    );
    const child = spawnMet(['stat', '--input', input, '--json']);
    assert.equal(await exited(child), 0, child.output());
    const out = JSON.parse(child.output());
    assert.ok(Math.abs(out.mmd_hamming - 0.0375) < 1e-15);
    assert.ok(Math.abs(out.two_sample_chi_squared - 9) < 1e-9);
    assert.equal(out.b, 100);
    assert.ok(out.pvalue >= 0 && out.pvalue <= 1);

    writeFileSync(input, JSON.stringify({ x: { prompts: [0], completions: ['a'] }, y: { prompts: [0], completions: ['a'] }, stats: ['mmd_hamming'] }));
    const bad = spawnMet(['stat', '--input', input]);
    assert.equal(await exited(bad), 1);
    assert.match(bad.output(), /prompt 0 has one sample in X/);
    assert.doesNotMatch(bad.output(), /at .*\.ts:\d+/, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one-sample statistics in log space against a known null', () => {
  const support = encodeChars([0, 0, 0], ['a', 'b', 'c'], 2);
  const logProbs = Float64Array.from([0.5, 0.3, 0.2], Math.log);
  const o = observedCounts(encodeChars([0, 0, 0, 0], ['a', 'a', 'b', 'b'], 2), { support, logProbs });
  assert.deepEqual([...o], [2, 2, 0]);
  // n = 4: np = [2, 1.2, 0.8]
  assert.ok(Math.abs(oneSampleStatistic('L1', o, logProbs) - (0 + 0.8 + 0.8)) < 1e-12);
  assert.ok(Math.abs(oneSampleStatistic('chi_squared', o, logProbs) - (0 + 0.64 / 1.2 + 0.8)) < 1e-12);
  assert.ok(Math.abs(oneSampleStatistic('g_squared', o, logProbs) - 2 * (2 * Math.log(2 / 2) + 2 * Math.log(2 / 1.2))) < 1e-12);
  assert.throws(() => observedCounts(encodeChars([0], ['z'], 2), { support, logProbs }), /not in the reference's support/);
});
