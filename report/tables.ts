import { binomialInterval } from './binomial';
import type { PowerSection, TestResult } from './schemas';
import { formatPValue as formatP } from '../common/pvalue';

/**
 * The numbers behind plots and tables, derived once from validated sections so the HTML page, the
 * PNG figures and the terminal print the same values.
 */

/** One point of a power curve: cells pooled over prompt-subset draws. */
export interface PowerPoint {
  series: string;
  reference: string;
  alternative: string;
  statistic: string;
  isNull: boolean;
  nPerPrompt: number;
  m: number;
  sims: number;
  rejections: number;
  power: number;
  lo: number;
  hi: number;
  /** Distinct prompt-subset draws pooled into this point. */
  draws: number;
}

/** One point: a test's power when `proportion` of the API's requests are served by a substitute. */
export interface MixturePowerPoint {
  test: string;
  /** Fraction of requests served by the substitute (0 = the reference only: type-I error). */
  proportion: number;
  /** API calls per test. */
  budget: number;
  power: number;
  lo: number;
  hi: number;
  sims: number;
}

/**
 * A section's points as power against the mixed-in share (section.mixtureShares), one series per
 * statistic (and substitute, when there are several), one panel per budget (n per prompt x m).
 */
export function mixturePoints(section: PowerSection): MixturePowerPoint[] {
  const shares = section.mixtureShares ?? [];
  if (shares.length === 0) return [];
  const substitutes = new Set(shares.map((s) => s.substitute));
  const out: MixturePowerPoint[] = [];
  for (const p of powerPoints(section)) {
    for (const s of shares.filter((x) => x.alternative === p.alternative)) {
      out.push({
        test: substitutes.size > 1 ? `${p.statistic} · ${s.substitute}` : p.statistic,
        proportion: s.share,
        budget: p.nPerPrompt * p.m,
        power: p.power,
        lo: p.lo,
        hi: p.hi,
        sims: p.sims,
      });
    }
  }
  return out.sort((a, b) => a.test.localeCompare(b.test) || a.budget - b.budget || a.proportion - b.proportion);
}

/** Pools cells by (reference, alternative, statistic, n per prompt, m) and attaches the section's binomial interval. */
export function powerPoints(section: PowerSection): PowerPoint[] {
  const references = new Set(section.cells.map((c) => c.reference));
  const groups = new Map<string, { cells: PowerSection['cells']; draws: Set<number | undefined> }>();
  for (const c of section.cells) {
    const key = JSON.stringify([c.reference, c.alternative, c.statistic, c.nPerPrompt, c.m]);
    const g = groups.get(key) ?? { cells: [], draws: new Set() };
    g.cells.push(c);
    g.draws.add(c.subsetDraw);
    groups.set(key, g);
  }
  const points: PowerPoint[] = [];
  for (const { cells, draws } of groups.values()) {
    const first = cells[0];
    const sims = cells.reduce((s, c) => s + c.sims, 0);
    const rejections = cells.reduce((s, c) => s + c.rejections, 0);
    const isNull = first.isNull ?? first.alternative === first.reference;
    const { lo, hi } = binomialInterval(rejections, sims, section.ciMethod, section.ciLevel);
    points.push({
      series: seriesLabel(first.alternative, first.reference, isNull, references.size > 1),
      reference: first.reference,
      alternative: first.alternative,
      statistic: first.statistic,
      isNull,
      nPerPrompt: first.nPerPrompt,
      m: first.m,
      sims,
      rejections,
      power: rejections / sims,
      lo,
      hi,
      draws: draws.size,
    });
  }
  return points.sort(
    (a, b) =>
      Number(a.isNull) - Number(b.isNull) ||
      a.series.localeCompare(b.series) ||
      a.statistic.localeCompare(b.statistic) ||
      a.m - b.m ||
      a.nPerPrompt - b.nPerPrompt,
  );
}

function seriesLabel(alternative: string, reference: string, isNull: boolean, manyReferences: boolean): string {
  if (alternative.startsWith('control:')) return `independent-pool control (${reference} split in halves)`;
  if (isNull) return `${alternative} vs ${reference} (null)`;
  return manyReferences ? `${alternative} vs ${reference}` : alternative;
}

export interface PowerTableCell {
  power: number;
  lo: number;
  hi: number;
  sims: number;
  rejections: number;
}

/** The paper's table: power per alternative (rows) and statistic (columns) at one sample size. */
export interface PowerTable {
  nPerPrompt: number;
  /** Prompt-subset sizes present at that sample size. */
  ms: number[];
  alpha: number;
  ciMethod: PowerSection['ciMethod'];
  ciLevel: number;
  statistics: string[];
  rows: { label: string; isNull: boolean; cells: Record<string, PowerTableCell | undefined> }[];
}

export function powerTable(section: PowerSection, nPerPrompt?: number): PowerTable {
  const points = powerPoints(section);
  const available = [...new Set(points.map((p) => p.nPerPrompt))].sort((a, b) => a - b);
  const n = nPerPrompt ?? section.tableNPerPrompt ?? available[available.length - 1];
  const at = points.filter((p) => p.nPerPrompt === n);
  if (at.length === 0) throw new RangeError(`no cells with ${n} samples per prompt; the grid has ${available.join(', ')}`);
  const ms = [...new Set(at.map((p) => p.m))].sort((a, b) => a - b);
  const statistics = [...new Set(points.map((p) => p.statistic))];
  const rows = new Map<string, PowerTable['rows'][number]>();
  for (const p of at) {
    const label = ms.length > 1 ? `${p.series}, m = ${p.m}` : p.series;
    const row = rows.get(label) ?? { label, isNull: p.isNull, cells: {} };
    row.cells[p.statistic] = { power: p.power, lo: p.lo, hi: p.hi, sims: p.sims, rejections: p.rejections };
    rows.set(label, row);
  }
  return { nPerPrompt: n, ms, alpha: section.alpha, ciMethod: section.ciMethod, ciLevel: section.ciLevel, statistics, rows: [...rows.values()] };
}

/** met's one verdict wording (terminal, HTTP API, HTML): a rejected null "differs", a kept one is "consistent". */
export type Verdict = 'differs' | 'consistent';
export function verdictOf(reject: boolean): Verdict {
  return reject ? 'differs' : 'consistent';
}

/** "differs from F32" / "consistent with F32": the decision in the words an auditor reads. */
export function verdictText(r: Pick<TestResult, 'decision' | 'reference'>): string {
  return r.decision === 'reject' ? `${verdictOf(true)} from ${r.reference}` : `${verdictOf(false)} with ${r.reference}`;
}

/** "endpoint A: consistent with F32, p = 0.412 (b = 1000), mmd_hamming". */
export function verdictLine(r: TestResult): string {
  return `${r.endpoint}: ${verdictText(r)}, ${formatP(r.pValue, r.b, { showB: true })}, ${r.statistic}`;
}

/** The shared p-value format (common/pvalue.ts), under the name the report code uses. */
export { formatPValue as formatP, pResolution, pValueText } from '../common/pvalue';

/** Compact number for tables: 4 significant digits, exponent outside [1e-3, 1e6). */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const ax = Math.abs(x);
  if (ax < 1e-3 || ax >= 1e6) {
    const [mantissa, exponent] = x.toExponential(3).split('e');
    return `${Number(mantissa)}e${exponent}`;
  }
  return Number(x.toPrecision(4)).toString();
}

/** "0.93 [0.86, 0.97]". */
export function formatPower(c: Pick<PowerTableCell, 'power' | 'lo' | 'hi'>): string {
  return `${c.power.toFixed(2)} [${c.lo.toFixed(2)}, ${c.hi.toFixed(2)}]`;
}

/**
 * What a reader must know before trusting a grid's power figures, in words: null cells whose whole
 * interval lies above alpha. The independent-pool control (PowerSpec.control) decides whether pools
 * are large enough; another null above alpha means the reference does not reproduce itself there.
 */
export function calibrationWarnings(section: PowerSection): string[] {
  return powerPoints(section)
    .filter((p) => p.isNull && p.lo > section.alpha)
    .map((p) =>
      p.alternative.startsWith('control:')
        ? `pools too small at n = ${p.nPerPrompt} (${p.statistic}): the independent-pool control (half of each prompt's ${p.reference} samples against the other half) rejects at ${formatPower(p)}, above α = ${section.alpha} beyond its interval. The test then detects the finite pool it resamples from, not the model: power figures at this n are not evidence. Collect more samples per prompt, or read only the n where the control stays within α.`
        : `${p.series} (${p.statistic}, n = ${p.nPerPrompt}): type-I error ${formatPower(p)}, above α = ${section.alpha} beyond its interval. The test is not calibrated here: too few stored completions per prompt to resample from, or a reference that does not reproduce itself.`,
    );
}
