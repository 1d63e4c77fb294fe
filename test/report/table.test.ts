import assert from 'node:assert/strict';
import { test } from 'node:test';
import { displayWidth, formatPowerTable, formatTable, formatVerdictTable, useColor } from '../../cli/table';
import { Report, type PowerSection, type TestSection } from '../../report/schemas';
import { formatPower, powerTable } from '../../report/tables';
import { powerReportInput, verdictReportInput } from './fixtures';

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

test('display width counts terminal cells, not code units', () => {
  assert.equal(displayWidth('abc'), 3);
  assert.equal(displayWidth('東京'), 4);
  assert.equal(displayWidth('café'), 4);
  assert.equal(displayWidth('cafe\u0301'), 4, 'combining accent takes no cell');
  assert.equal(displayWidth('👍🏽'), 2, 'emoji with skin tone is one wide grapheme');
  assert.equal(displayWidth('👨‍👩‍👧'), 2, 'ZWJ family is one grapheme');
  assert.equal(displayWidth('🇫🇷'), 2);
  assert.equal(displayWidth('\x1b[31mred\x1b[39m'), 3, 'colour codes take no cell');
  assert.equal(displayWidth('α = 0.05'), 8);
});

test('columns line up whatever the script of the cells', () => {
  const out = formatTable(
    ['prompt', { header: 'similarity', align: 'right' }, 'note'],
    [
      ['東京の天気', '0.981', 'ok'],
      ['café', '1', '👍 fine'],
      ['plain', '0.5', ''],
    ],
  );
  const lines = out.split('\n');
  assert.equal(lines.length, 5);
  // The right-aligned column ends at the same cell on every line.
  const ends = [
    [lines[0], 'similarity'],
    [lines[2], '0.981'],
    [lines[3], '1'],
    [lines[4], '0.5'],
  ].map(([line, value]) => displayWidth(line.slice(0, line.indexOf(value, line.indexOf('  ')) + value.length)));
  assert.deepEqual(ends, [ends[0], ends[0], ends[0], ends[0]], `misaligned:\n${out}`);
  // And the third column starts at the same cell.
  const starts = [
    [lines[0], 'note'],
    [lines[2], 'ok'],
    [lines[3], '👍'],
  ].map(([line, value]) => displayWidth(line.slice(0, line.indexOf(value))));
  assert.deepEqual(starts, [starts[0], starts[0], starts[0]], `misaligned:\n${out}`);
  assert.doesNotMatch(out, /\x1b\[/, 'no colour unless asked');
  assert.match(lines[1], /^─+ {2}─+ {2}─+$/);
});

test('colour is applied only when asked, and never changes the layout', () => {
  const rows = [
    [{ text: 'differs', style: ['red', 'bold'] as const }, '1'],
    ['same', '22'],
  ].map((r) => r.map((c) => (typeof c === 'string' ? c : { text: c.text, style: [...c.style] })));
  const plain = formatTable(['a', { header: 'b', align: 'right' }], rows);
  const coloured = formatTable(['a', { header: 'b', align: 'right' }], rows, { color: true });
  assert.match(coloured, /\x1b\[31m/);
  assert.equal(stripAnsi(coloured), plain);
});

test('useColor follows the TTY, NO_COLOR and FORCE_COLOR', () => {
  assert.equal(useColor({ isTTY: true }, {}), true);
  assert.equal(useColor({ isTTY: false }, {}), false);
  assert.equal(useColor({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(useColor({ isTTY: false }, { FORCE_COLOR: '1' }), true);
  assert.equal(useColor({ isTTY: true }, { TERM: 'dumb' }), false);
});

test('the paper table prints every power cell with its interval', () => {
  const section = Report.parse(powerReportInput()).sections[0] as PowerSection;
  const t = powerTable(section);
  const out = formatPowerTable(t);
  const lines = out.split('\n');
  assert.match(lines[0], /^Power at α = 0.05 \(n = 10 per prompt, N = 250 per side, m = 25; 95% Wilson intervals\)$/);
  assert.match(lines[1], /^alternative +mmd_hamming +two_sample_L1$/);
  for (const row of t.rows) {
    const line = lines.find((l) => l.startsWith(row.label));
    assert.ok(line, `no line for ${row.label}`);
    for (const s of t.statistics) assert.ok(line.includes(formatPower(row.cells[s]!)), `${row.label}/${s} missing`);
  }
  assert.match(out, /type-I error/);
  const widths = new Set(lines.slice(1, 2 + t.rows.length).map(displayWidth));
  assert.equal(widths.size, 1, 'header, rule and rows are equally wide');
});

test('the verdict table says which endpoint differs', () => {
  const section = Report.parse(verdictReportInput()).sections[0] as TestSection;
  const out = formatVerdictTable(section.results, { alpha: 0.05 });
  assert.match(out, /^Verdicts at α = 0.05$/m);
  assert.match(out, /^endpoint A \(honest\) +consistent with F32 +p = 0\.\d{3} +mmd_hamming/m);
  assert.match(out, /^endpoint B <claims F32> +differs from F32 +p < 0\.002 \(b = 500\) +mmd_hamming +0\.0093 +500 +250 \/ 250$/m);
  assert.match(
    out.split('\n').pop()!,
    /^value: the statistic; MMD .* can be negative\. b: permutations .* n1 \/ n2: completions per side\.$/,
    'a legend line under the table',
  );
});
