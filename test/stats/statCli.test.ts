import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { exited, spawnMet } from '../helpers/processes';

const dir = mkdtempSync(join(tmpdir(), 'met-stat-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function metStat(input: unknown, json = true): Promise<{ code: number | string; output: string }> {
  const file = join(dir, `in-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, typeof input === 'string' ? input : JSON.stringify(input));
  const child = spawnMet(['stat', '--input', file, ...(json ? ['--json'] : [])]);
  const code = await exited(child);
  return { code, output: child.output() };
}

const C = {
  L: 4,
  m: 2,
  unit: 'char',
  x: { prompts: [0, 0, 1, 1], completions: ['abc', 'abd', 'xy', 'xy'] },
  y: { prompts: [0, 0, 0, 1, 1], completions: ['abc', 'b', 'abc', 'xz', 'x'] },
};

test('met stat: the issue format in, full-precision JSON out, with a permutation p-value', async () => {
  const { code, output } = await metStat({
    ...C,
    stats: ['mmd_hamming', 'mmd_kspectrum', 'two_sample_chi_squared'],
    k: 2,
    cumulative: false,
    pvalue: { type: 'permutation', stat: 'mmd_hamming', b: 100, seed: 1 },
  });
  assert.equal(code, 0, output);
  const out = JSON.parse(output);
  assert.deepEqual(Object.keys(out), ['mmd_hamming', 'mmd_kspectrum', 'two_sample_chi_squared', 'pvalue', 'b', 'undefinedNulls', 'seconds']);
  assert.ok(Number.isInteger(out.undefinedNulls) && out.undefinedNulls >= 0 && out.undefinedNulls <= out.b, 'undefined null statistics are counted');
  assert.ok(Math.abs(out.mmd_hamming - 0.0375) < 1e-15);
  assert.ok(Math.abs(out.mmd_kspectrum - 0.1725403330758516) < 1e-15, 'k = 2, exact k-grams, to full precision');
  assert.ok(Math.abs(out.two_sample_chi_squared - 9) < 1e-9);
  assert.equal(out.b, 100);
  assert.equal(out.pvalue, Math.round(out.pvalue * 100) / 100);
  assert.ok(out.seconds >= 0);
  const again = JSON.parse((await metStat({ ...C, stats: ['mmd_hamming'], pvalue: { type: 'permutation', stat: 'mmd_hamming', b: 100, seed: 1 } })).output);
  assert.equal(again.pvalue, out.pvalue, 'same seed, same p-value');
});

test('met stat: token unit with EOS, a bootstrap p-value, and the table output', async () => {
  const { code, output } = await metStat(
    {
      L: 6,
      unit: 'token',
      eos: 2,
      pad: 0,
      x: {
        prompts: [0, 0, 0],
        completions: [
          [5, 6, 2, 9],
          [5, 7, 2],
          [5, 6, 2, 7, 7, 7, 7],
        ],
      },
      y: {
        prompts: [0, 0, 0],
        completions: [
          [5, 6, 2],
          [5, 8, 2],
          [5, 8],
        ],
      },
      reference: {
        prompts: [0, 0, 0, 0],
        completions: [
          [5, 6, 2],
          [5, 7, 2],
          [5, 8, 2],
          [5, 6],
        ],
      },
      stats: ['mmd_hamming', 'two_sample_L1'],
      pvalue: { type: 'bootstrap', stat: 'mmd_hamming', b: 50, seed: 3 },
    },
    false,
  );
  assert.equal(code, 0, output);
  assert.match(output, /^mmd_hamming\s+-?\d/m);
  assert.match(output, /^two_sample_L1\s+1\.3333333333333333$/m, 'rows equal after the EOS count as one: 1/3 + 1/3 + 1/3 + 1/3');
  assert.match(output, /^pvalue\s+p (= [01]\.\d\d+|< 0\.02 \(b = 50\))$/m, "met's p-value format");
});

test('met stat: clear messages for bad input, never a stack trace', async () => {
  const cases: [unknown, RegExp][] = [
    [{ x: { prompts: [0], completions: ['a'] }, y: { prompts: [0], completions: ['a'] }, stats: ['mmd_hamming'] }, /prompt 0 has one sample in X/],
    [{ ...C, stats: ['mmd_hammming'] }, /stats\.0: Invalid option/],
    [{ ...C, stats: ['mmd_hamming'], x: { prompts: [0, 0], completions: ['a'] } }, /x: 2 prompts for 1 completions/],
    [{ ...C, stats: ['mmd_hamming'], unit: 'token' }, /x\.completions\.0: token unit takes completions as arrays/],
    [{ ...C, stats: ['mmd_hamming'], pvalue: { type: 'bootstrap', stat: 'mmd_hamming' } }, /reference: a bootstrap p-value/],
    [{ ...C, stats: ['mmd_hamming'], extra: 1 }, /Unrecognized key/],
    ['{"L": 4,', /cannot read .* as JSON/],
    // Sizes are bounded: a clear message naming the field, not "Invalid typed array length" or a stalled worker.
    [{ ...C, L: 1e12, stats: ['two_sample_L1'] }, /- L: L is at most 32,768/],
    [{ ...C, stats: ['mmd_hamming'], pvalue: { type: 'permutation', stat: 'mmd_hamming', b: 1e9 } }, /- pvalue\.b: b is at most 100,000/],
  ];
  for (const [input, pattern] of cases) {
    const { code, output } = await metStat(input);
    assert.equal(code, 1, output);
    assert.match(output, pattern);
    assert.doesNotMatch(output, /\n\s+at .*:\d+:\d+/, 'no stack trace');
  }
});

test('met stat: an undefined statistic is reported beside the others, not instead of them', async () => {
  const input = {
    L: 2,
    x: { prompts: [0, 1], completions: ['a', 'b'] },
    y: { prompts: [0, 1], completions: ['a', 'c'] },
    stats: ['mmd_hamming', 'two_sample_L1'],
  };
  const { code, output } = await metStat(input);
  assert.equal(code, 0, output);
  const out = JSON.parse(output);
  assert.ok(Math.abs(out.two_sample_L1 - 1) < 1e-12, output);
  assert.equal(out.mmd_hamming, undefined);
  assert.match(out.errors.mmd_hamming, /prompt 0 has one sample in X/);
  const table = await metStat(input, false);
  assert.equal(table.code, 0, table.output);
  assert.match(table.output, /^mmd_hamming +undefined: prompt 0 has one sample in X/m);
});
