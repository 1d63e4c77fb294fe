import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ZodError } from 'zod';
import { wilsonInterval } from '../../report/binomial';
import { PowerSection, Report, TestSection } from '../../report/schemas';
import { formatNumber, formatP, powerPoints, powerTable, verdictLine, verdictOf } from '../../report/tables';
import { powerReportInput } from './fixtures';

const cell = (alternative: string, nPerPrompt: number, rejections: number, extra: Record<string, unknown> = {}) => ({
  reference: 'F32',
  alternative,
  statistic: 'mmd_hamming',
  nPerPrompt,
  m: 25,
  sims: 100,
  rejections,
  ...extra,
});

test('cells of several prompt-subset draws are pooled into one point with its interval', () => {
  const section = PowerSection.parse({
    kind: 'power',
    cells: [cell('Q4_0', 10, 80, { subsetDraw: 0 }), cell('Q4_0', 10, 90, { subsetDraw: 1 }), cell('F32', 10, 4)],
  });
  const points = powerPoints(section);
  const q4 = points.find((p) => p.alternative === 'Q4_0')!;
  assert.equal(q4.sims, 200);
  assert.equal(q4.rejections, 170);
  assert.equal(q4.draws, 2);
  assert.equal(q4.power, 0.85);
  assert.deepEqual({ lo: q4.lo, hi: q4.hi }, wilsonInterval(170, 200));
  const nul = points.find((p) => p.isNull)!;
  assert.equal(nul.series, 'F32 vs F32 (null)');
  // Alternatives first, the null row last.
  assert.equal(points[points.length - 1], nul);
});

test('the paper table picks the largest n by default and one row per alternative', () => {
  const report = Report.parse(powerReportInput());
  const section = report.sections[0] as PowerSection;
  const t = powerTable(section);
  assert.equal(t.nPerPrompt, 10);
  assert.deepEqual(t.ms, [25]);
  assert.deepEqual(t.statistics, ['mmd_hamming', 'two_sample_L1']);
  assert.deepEqual(
    t.rows.map((r) => [r.label, r.isNull]),
    [
      ['Q4_0', false],
      ['Q8_0', false],
      ['F32 vs F32 (null)', true],
    ],
  );
  // Each cell is the pooled count over the two subset draws of the input.
  for (const row of t.rows) {
    for (const s of t.statistics) {
      const alt = row.label.split(' ')[0];
      const source = section.cells.filter((c) => c.alternative === alt && c.statistic === s && c.nPerPrompt === 10);
      assert.equal(
        row.cells[s]!.rejections,
        source.reduce((a, c) => a + c.rejections, 0),
      );
      assert.equal(
        row.cells[s]!.sims,
        source.reduce((a, c) => a + c.sims, 0),
      );
    }
  }
  assert.equal(powerTable(section, 2).nPerPrompt, 2);
  assert.throws(() => powerTable(section, 3), /no cells with 3 samples per prompt; the grid has 1, 2, 5, 10/);
});

test('Clopper-Pearson is used when the section asks for it', () => {
  const s = PowerSection.parse({ kind: 'power', ciMethod: 'clopper-pearson', cells: [cell('Q4_0', 5, 0)] });
  const [p] = powerPoints(s);
  assert.equal(p.lo, 0);
  // 0 of n: the exact upper bound has the closed form 1 - (alpha/2)^(1/n).
  assert.ok(Math.abs(p.hi - (1 - 0.025 ** (1 / 100))) < 1e-10, String(p.hi));
});

test('inconsistent inputs fail validation with the field path', () => {
  const bad = (f: () => unknown, path: string, message: RegExp) => {
    try {
      f();
      assert.fail('expected a ZodError');
    } catch (err) {
      assert.ok(err instanceof ZodError, String(err));
      const issue = err.issues.find((i) => i.path.join('.') === path);
      assert.ok(issue, `no issue at ${path}: ${JSON.stringify(err.issues)}`);
      assert.match(issue.message, message);
    }
  };
  bad(() => PowerSection.parse({ kind: 'power', cells: [cell('Q4_0', 5, 120)] }), 'cells.0.rejections', /120 rejections out of 100/);
  bad(() => PowerSection.parse({ kind: 'power', cells: [cell('Q4_0', 5, 50, { power: 0.4 })] }), 'cells.0.power', /not rejections\/sims/);
  bad(
    () =>
      TestSection.parse({
        kind: 'test',
        results: [{ endpoint: 'A', reference: 'F32', statistic: 'mmd_hamming', value: 0.1, pValue: 0.3, b: 100, decision: 'reject', n1: 10, n2: 10 }],
      }),
    'results.0.decision',
    /decision 'reject' but p = 0.3 > alpha = 0.05/,
  );
  bad(() => PowerSection.parse({ kind: 'power', cells: [] }), 'cells', /./);
});

test('p-values print at the resolution b allows, and verdicts read as sentences', () => {
  assert.equal(formatP(0, 1000), 'p < 0.001 (b = 1000)');
  assert.equal(formatP(0, 200), 'p < 0.005 (b = 200)');
  assert.equal(formatP(0, 99_999), 'p < 0.00001 (b = 99999)');
  assert.equal(formatP(0.0123, 1000), 'p = 0.0123');
  assert.equal(formatP(0.00891750000000002, 1000), 'p = 0.00892');
  assert.equal(formatP(0.4, 100), 'p = 0.400');
  assert.equal(formatP(0.4, 100, { showB: true }), 'p = 0.400 (b = 100)');
  assert.equal(verdictOf(true), 'differs');
  assert.equal(verdictOf(false), 'consistent');
  assert.equal(formatNumber(0.0004), '4e-4');
  assert.equal(formatNumber(123.456), '123.5');
  const line = verdictLine({
    endpoint: 'endpoint B',
    reference: 'F32',
    statistic: 'mmd_hamming',
    value: 0.01,
    pValue: 0,
    b: 1000,
    decision: 'reject',
    n1: 250,
    n2: 250,
  });
  assert.equal(line, 'endpoint B: differs from F32, p < 0.001 (b = 1000), mmd_hamming');
});
