import type { PowerTable } from '../report/tables';
import { formatNumber, formatP, formatPower, verdictText } from '../report/tables';
import type { TestResult } from '../report/schemas';
import { escapeControls } from '../common/text';

/**
 * Terminal tables: columns aligned by display width (CJK and emoji count two cells, combining marks
 * none, colour codes nothing), colour only when asked for (useColor: a TTY, NO_COLOR unset).
 */

export type Style = 'bold' | 'dim' | 'italic' | 'red' | 'green' | 'yellow' | 'blue' | 'cyan';

const SGR: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  italic: [3, 23],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  cyan: [36, 39],
};

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/** A cell: plain text, or text with styles applied when colour is on. */
export type Cell = string | { text: string; style?: Style | Style[] };

export interface TableOptions {
  /** ANSI colours (default false; pass useColor() for a terminal). */
  color?: boolean;
  /** Printed above the table. */
  title?: string;
  /** Spaces between columns (default 2). */
  gap?: number;
}

/** Whether to colour output on `stream`: a TTY, NO_COLOR unset (https://no-color.org), or FORCE_COLOR set. */
export function useColor(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function paint(text: string, style: Style | Style[] | undefined, color: boolean): string {
  if (!color || !style) return text;
  const styles = Array.isArray(style) ? style : [style];
  return styles.reduce((t, s) => `\x1b[${SGR[s][0]}m${t}\x1b[${SGR[s][1]}m`, text);
}

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Terminal columns a string occupies: graphemes, East Asian wide = 2, zero-width = 0, ANSI codes = 0. */
export function displayWidth(s: string): number {
  let width = 0;
  for (const { segment } of segmenter.segment(s.replace(ANSI, ''))) width += graphemeWidth(segment);
  return width;
}

function graphemeWidth(g: string): number {
  if (/\p{Extended_Pictographic}/u.test(g) || g.includes('\uFE0F') || /\p{Regional_Indicator}/u.test(g)) return 2;
  const cp = g.codePointAt(0) as number;
  if (cp < 32 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (/^[\p{Mn}\p{Me}\p{Cf}]+$/u.test(g)) return 0;
  return isWide(cp) ? 2 : 1;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

function pad(text: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return align === 'right' ? fill + text : text + fill;
}

/** Formats rows under headers with aligned columns; returns the table without a trailing newline. */
export function formatTable(columns: (string | Column)[], rows: Cell[][], opts: TableOptions = {}): string {
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? { header: c } : c));
  const color = opts.color ?? false;
  const gap = ' '.repeat(opts.gap ?? 2);
  // Cells hold what providers, corpora and files said: escaped, one line each (paint adds colour after).
  const text = (c: Cell | undefined) => escapeControls(c === undefined ? '' : typeof c === 'string' ? c : c.text, true);
  const widths = cols.map((col, i) => Math.max(displayWidth(col.header), ...rows.map((r) => displayWidth(text(r[i])))));
  const line = (cells: string[]) => cells.join(gap).replace(/\s+$/, '');
  const out: string[] = [];
  if (opts.title) out.push(paint(opts.title, 'bold', color));
  out.push(line(cols.map((col, i) => paint(pad(col.header, widths[i], col.align ?? 'left'), 'bold', color))));
  out.push(line(widths.map((w) => '─'.repeat(w))));
  for (const r of rows) {
    out.push(
      line(
        cols.map((col, i) => {
          const c = r[i];
          const padded = pad(text(c), widths[i], col.align ?? 'left');
          return typeof c === 'object' ? paint(padded, c.style, color) : padded;
        }),
      ),
    );
  }
  return out.join('\n');
}

/** The paper's table in the terminal: rows alternatives, columns statistics, "power [lo, hi]". */
export function formatPowerTable(t: PowerTable, opts: Omit<TableOptions, 'title'> = {}): string {
  const n = t.ms.length === 1 ? `n = ${t.nPerPrompt} per prompt, N = ${t.nPerPrompt * t.ms[0]} per side, m = ${t.ms[0]}` : `n = ${t.nPerPrompt} per prompt`;
  const interval = `${Math.round(t.ciLevel * 100)}% ${t.ciMethod === 'wilson' ? 'Wilson' : 'Clopper-Pearson'} intervals`;
  const rows: Cell[][] = t.rows.map((r) => [
    r.isNull ? { text: r.label, style: 'dim' } : r.label,
    ...t.statistics.map((s): Cell => {
      const c = r.cells[s];
      if (!c) return '–';
      const style: Style | undefined = r.isNull ? (c.power > t.alpha * 2 ? 'yellow' : 'dim') : c.power >= 0.8 ? 'green' : undefined;
      return { text: formatPower(c), style };
    }),
  ]);
  const table = formatTable(['alternative', ...t.statistics.map((s) => ({ header: s, align: 'right' as const }))], rows, {
    ...opts,
    title: `Power at α = ${t.alpha} (${n}; ${interval})`,
  });
  const hasNull = t.rows.some((r) => r.isNull);
  return hasNull
    ? `${table}
${paint('(null): reference vs reference, whose rejection rate is the type-I error; expect about α or less.', 'dim', opts.color ?? false)}`
    : table;
}

/** The demo's verdict table: one row per endpoint and statistic. */
export function formatVerdictTable(results: TestResult[], opts: Omit<TableOptions, 'title'> & { alpha?: number } = {}): string {
  const rows: Cell[][] = results.map((r) => [
    r.endpoint,
    { text: verdictText(r), style: r.decision === 'reject' ? ['red', 'bold'] : 'green' },
    formatP(r.pValue, r.b),
    r.statistic,
    formatNumber(r.value),
    String(r.b),
    `${r.n1} / ${r.n2}`,
  ]);
  const table = formatTable(
    [
      'endpoint',
      'verdict',
      'p-value',
      'statistic',
      { header: 'value', align: 'right' },
      { header: 'b', align: 'right' },
      { header: 'n1 / n2', align: 'right' },
    ],
    rows,
    { ...opts, title: opts.alpha === undefined ? undefined : `Verdicts at α = ${opts.alpha}` },
  );
  return `${table}\n${paint(VERDICT_LEGEND, 'dim', opts.color ?? false)}`;
}

/** The line under a verdict table: what its columns mean, and why a value can be below 0. */
export const VERDICT_LEGEND =
  'value: the statistic; MMD is estimated without bias, so with no difference it scatters around 0 and can be negative. ' +
  'b: permutations (or bootstrap draws) behind the p-value, which cannot go below 1/(b + 1). n1 / n2: completions per side.';
