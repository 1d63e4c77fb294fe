import { ACCEPT_COLOR, ALPHA_COLOR, DOMAIN_COLOR, GRID_COLOR, NULL_COLOR, REJECT_COLOR, seriesColors } from './palette';
import { FIGURE_FONT_STACK } from './fonts';
import type { ConsistencyPrompt, TestResult } from './schemas';
import { formatNumber, formatP, type MixturePowerPoint, type PowerPoint } from './tables';
import type { TopLevelSpec } from 'vega-lite';

export type { MixturePowerPoint } from './tables';
export type { TopLevelSpec } from 'vega-lite';

/**
 * met's figures as Vega-Lite specs built from report data: plain data, so a caller can write them
 * out as .vl.json for an interactive viewer, or draw them with report/chartRender.ts.
 */

const CONFIG = {
  font: FIGURE_FONT_STACK,
  background: 'white',
  padding: 10,
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: GRID_COLOR, domainColor: DOMAIN_COLOR, tickColor: DOMAIN_COLOR },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 260 },
  header: { labelFontSize: 12, labelFontWeight: 'bold', titleFontSize: 12 },
  title: { fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start', offset: 10 },
  view: { stroke: '#d0d0d0' },
} as const;

/** Vega-Lite's schema URL: metadata for viewers; nothing is fetched when rendering. */
const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

function withConfig(spec: Record<string, unknown>): TopLevelSpec {
  return { $schema: SCHEMA, config: CONFIG, ...spec } as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------
// (a) Power versus samples per prompt

export interface PowerCurveOptions {
  alpha: number;
  /** e.g. "95% Wilson score intervals". */
  intervalLabel: string;
  title?: string;
}

export function powerCurveSpec(points: PowerPoint[], opts: PowerCurveOptions): TopLevelSpec {
  if (points.length === 0) throw new RangeError('powerCurveSpec needs at least one power point');
  const nullKind = 'null: same weights (type-I error)';
  const rows = points.map((p) => ({
    series: p.series,
    kind: p.isNull ? nullKind : 'alternative',
    statistic: p.statistic,
    m: `m = ${p.m} prompts`,
    n: p.nPerPrompt,
    N: p.nPerPrompt * p.m,
    power: p.power,
    lo: p.lo,
    hi: p.hi,
    sims: p.sims,
  }));
  const alternatives = [...new Set(points.filter((p) => !p.isNull).map((p) => p.series))];
  const nulls = [...new Set(points.filter((p) => p.isNull).map((p) => p.series))];
  const seriesDomain = [...alternatives, ...nulls];
  // Colours follow the series' names (report/palette.ts), so a series looks the same in every figure.
  const seriesRange = [...seriesColors(alternatives), ...nulls.map(() => NULL_COLOR)];
  const ns = [...new Set(points.map((p) => p.nPerPrompt))].sort((a, b) => a - b);
  const statistics = [...new Set(points.map((p) => p.statistic))];
  const ms = [...new Set(points.map((p) => p.m))];
  const faceted = statistics.length > 1 || ms.length > 1;
  const logX = ns[ns.length - 1] / ns[0] >= 16;

  const x = {
    field: 'n',
    type: 'quantitative',
    // The ticks are n; N = n × m (samples per side) is said where m is known, not in the title.
    title: ms.length === 1 ? `n, samples per prompt per side (N = n × ${ms[0]} prompts)` : 'n, samples per prompt per side (N = n × m)',
    scale: logX ? { type: 'log', base: 2, nice: false } : { zero: false, nice: false, padding: 12 },
    axis: { values: ns, format: 'd', grid: true },
  };
  const color = {
    field: 'series',
    type: 'nominal',
    title: 'Alternative',
    scale: { domain: seriesDomain, range: seriesRange },
    legend: { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 },
  };
  const y = { field: 'power', type: 'quantitative', title: 'Rejection rate', scale: { domain: [0, 1] }, axis: { format: '.1f' } };
  const alphaText = `α = ${opts.alpha}`;
  // One n only: a band has no width, so the interval is drawn as a bar instead.
  const intervalMark = ns.length === 1 ? { type: 'rule', strokeWidth: 2 } : { type: 'area', opacity: 0.16 };
  const layer: Record<string, unknown>[] = [
    { mark: intervalMark, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color } },
    {
      mark: { type: 'line', point: { filled: true, size: 36 }, strokeWidth: 2 },
      encoding: {
        x,
        y,
        color,
        strokeDash: {
          field: 'kind',
          type: 'nominal',
          scale: {
            domain: ['alternative', nullKind],
            range: [
              [1, 0],
              [5, 3],
            ],
          },
          legend: null,
        },
        tooltip: [
          { field: 'series' },
          { field: 'n' },
          { field: 'N' },
          { field: 'power', format: '.2f' },
          { field: 'lo', format: '.2f' },
          { field: 'hi', format: '.2f' },
          { field: 'sims' },
        ],
      },
    },
    { mark: { type: 'rule', color: ALPHA_COLOR, strokeDash: [3, 3], strokeWidth: 1.25 }, encoding: { y: { datum: opts.alpha } } },
    {
      // Right of the plot area, level with its line: inside, it sat on the null series, which runs at about α.
      mark: { type: 'text', color: ALPHA_COLOR, align: 'left', baseline: 'middle', dx: 4, fontSize: 11, x: { expr: faceted ? 'child_width' : 'width' } },
      // One label per panel: without the aggregate the text is drawn once per data row, all on one spot.
      transform: [{ aggregate: [{ op: 'count', as: 'rows' }] }],
      encoding: { y: { datum: opts.alpha }, text: { value: alphaText } },
    },
  ];
  const inner = { width: 260, height: 200, layer };
  const title = {
    text: opts.title ?? 'Power versus samples per prompt',
    subtitle: [
      `${ns.length === 1 ? 'Bars' : 'Bands'}: ${opts.intervalLabel} over the simulations per point. Dashed grey: nulls, the same weights (type-I error). Red: ${alphaText}.`,
    ],
  };
  const data = { values: rows };
  if (statistics.length === 1 && ms.length === 1) return withConfig({ title: { ...title, text: `${title.text}: ${statistics[0]}` }, data, ...inner });
  if (ms.length === 1)
    return withConfig({
      title,
      data,
      facet: { field: 'statistic', type: 'nominal', title: null, sort: statistics },
      columns: Math.min(3, statistics.length),
      spec: inner,
    });
  return withConfig({
    title,
    data,
    facet: { column: { field: 'statistic', type: 'nominal', title: null, sort: statistics }, row: { field: 'm', type: 'nominal', title: null } },
    spec: inner,
  });
}

// ---------------------------------------------------------------------------------------------
// (a') Power versus the mixed-in proportion of a substitute model, test by test

/** Power on y and one colour per test: the encodings the per-test power figures share. */
function testPowerEncodings(tests: string[]) {
  return {
    y: { field: 'power', type: 'quantitative', title: 'Rejection rate', scale: { domain: [0, 1] }, axis: { format: '.1f' } },
    color: {
      field: 'test',
      type: 'nominal',
      title: 'Test',
      scale: { domain: tests, range: seriesColors(tests) },
      legend: { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 },
    },
  };
}

export function mixturePowerSpec(
  points: MixturePowerPoint[],
  opts: { alpha: number; intervalLabel: string; substitute: string; title?: string },
): TopLevelSpec {
  if (points.length === 0) throw new RangeError('mixturePowerSpec needs at least one point');
  const tests = [...new Set(points.map((p) => p.test))];
  const budgets = [...new Set(points.map((p) => p.budget))].sort((a, b) => a - b);
  const rows = points.map((p) => ({ ...p, budgetLabel: `budget ${p.budget} API calls` }));
  const x = {
    field: 'proportion',
    type: 'quantitative',
    title: `Share of requests served by ${opts.substitute}`,
    scale: { domain: [0, 1] },
    axis: { values: [...new Set(points.map((p) => p.proportion))].sort((a, b) => a - b), format: '.2~f', grid: true },
  };
  const { y, color } = testPowerEncodings(tests);
  const alphaText = `α = ${opts.alpha}`;
  const layer = [
    { mark: { type: 'area', opacity: 0.16 }, encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color } },
    {
      mark: { type: 'line', point: { filled: true, size: 36 }, strokeWidth: 2 },
      encoding: {
        x,
        y,
        color,
        tooltip: [
          { field: 'test' },
          { field: 'proportion' },
          { field: 'budget' },
          { field: 'power', format: '.2f' },
          { field: 'lo', format: '.2f' },
          { field: 'hi', format: '.2f' },
          { field: 'sims' },
        ],
      },
    },
    { mark: { type: 'rule', color: ALPHA_COLOR, strokeDash: [3, 3], strokeWidth: 1.25 }, encoding: { y: { datum: opts.alpha } } },
    {
      mark: {
        type: 'text',
        color: ALPHA_COLOR,
        align: 'right',
        baseline: 'bottom',
        dx: -3,
        dy: -2,
        fontSize: 11,
        x: { expr: budgets.length > 1 ? 'child_width' : 'width' },
      },
      // One label per panel: without the aggregate the text is drawn once per data row, all on one spot.
      transform: [{ aggregate: [{ op: 'count', as: 'rows' }] }],
      encoding: { y: { datum: opts.alpha }, text: { value: alphaText } },
    },
  ];
  const title = {
    text: opts.title ?? `Power versus the share of ${opts.substitute} mixed in per request`,
    subtitle: [
      `Every test on the same API draws at the same budget. Bands: ${opts.intervalLabel}. At share 0 the rate is the type-I error. Red: ${alphaText}.`,
    ],
  };
  const inner = { width: 260, height: 200, layer };
  if (budgets.length === 1) return withConfig({ title, data: { values: rows }, ...inner });
  return withConfig({
    title,
    data: { values: rows },
    facet: { field: 'budgetLabel', type: 'nominal', title: null, sort: budgets.map((b) => `budget ${b} API calls`) },
    columns: Math.min(3, budgets.length),
    spec: inner,
  });
}

// ---------------------------------------------------------------------------------------------
// (a'') Power versus the tokens an endpoint is sent and returns, test by test

export interface TokenPowerPoint {
  test: string;
  /** The scenario's panel, e.g. "Q4_0 serves every request". */
  scenario: string;
  /** Tokens the endpoint processed for the test: prompts plus completions, all requests together. */
  tokens: number;
  power: number;
}

/** One line per test, power against endpoint tokens (log scale), one panel per scenario; 80% power marked. */
export function tokenPowerSpec(points: TokenPowerPoint[], opts: { alpha: number; target: number; title?: string; subtitle?: string }): TopLevelSpec {
  if (points.length === 0) throw new RangeError('tokenPowerSpec needs at least one point');
  const tests = [...new Set(points.map((p) => p.test))];
  const scenarios = [...new Set(points.map((p) => p.scenario))];
  const x = {
    field: 'tokens',
    type: 'quantitative',
    title: 'Endpoint tokens, all requests',
    scale: { type: 'log', nice: false },
    axis: { grid: true, format: '~s' },
  };
  const { y, color } = testPowerEncodings(tests);
  const layer = [
    {
      mark: { type: 'line', point: { filled: true, size: 36 }, strokeWidth: 2 },
      encoding: { x, y, color, tooltip: [{ field: 'test' }, { field: 'tokens' }, { field: 'power', format: '.2f' }] },
    },
    { mark: { type: 'rule', color: DOMAIN_COLOR, strokeDash: [6, 3], strokeWidth: 1.25 }, encoding: { y: { datum: opts.target } } },
    { mark: { type: 'rule', color: ALPHA_COLOR, strokeDash: [3, 3], strokeWidth: 1.25 }, encoding: { y: { datum: opts.alpha } } },
  ];
  const title = {
    text: opts.title ?? 'Power versus endpoint tokens',
    subtitle: [opts.subtitle ?? `Tokens: prompts plus completions. Grey dashes: ${Math.round(opts.target * 100)}% power. Red: α = ${opts.alpha}.`],
  };
  const inner = { width: 260, height: 200, layer };
  if (scenarios.length === 1) return withConfig({ title, data: { values: points }, ...inner });
  return withConfig({
    title,
    data: { values: points },
    facet: { field: 'scenario', type: 'nominal', title: null, sort: scenarios },
    // Four panels as two rows of two, not three and one.
    columns: scenarios.length === 4 ? 2 : Math.min(3, scenarios.length),
    spec: inner,
  });
}

// ---------------------------------------------------------------------------------------------
// (b) p-values and verdicts per endpoint

export function pValueSpec(results: TestResult[], alpha: number, title = 'p-value per endpoint'): TopLevelSpec {
  if (results.length === 0) throw new RangeError('pValueSpec needs at least one test result');
  const differs = 'differs (p ≤ α)';
  const consistent = 'consistent (p > α)';
  const rows = results.map((r) => ({
    endpoint: `${r.endpoint} vs ${r.reference}`,
    statistic: r.statistic,
    p: r.pValue,
    // The label starts right of the α line, so the line never crosses it (p < α bars end left of it).
    labelAt: Math.max(r.pValue, alpha),
    verdict: r.decision === 'reject' ? differs : consistent,
    label: `${formatP(r.pValue, r.b)}${results.some((o) => o.statistic !== r.statistic) ? ` (${r.statistic})` : ''}`,
  }));
  const statisticCount = new Set(results.map((r) => r.statistic)).size;
  const manyStatistics = statisticCount > 1;
  const yOffset = manyStatistics ? { yOffset: { field: 'statistic', type: 'nominal', title: 'statistic' } } : {};
  const y = { field: 'endpoint', type: 'nominal', title: null, sort: null, axis: { labelLimit: 280 } };
  const x = { field: 'p', type: 'quantitative', title: 'p-value', scale: { domain: [0, 1] } };
  const color = {
    field: 'verdict',
    type: 'nominal',
    title: 'Verdict',
    scale: { domain: [differs, consistent], range: [REJECT_COLOR, ACCEPT_COLOR] },
    legend: { orient: 'bottom', direction: 'horizontal', symbolType: 'square', symbolOpacity: 1 },
  };
  return withConfig({
    title: { text: title, subtitle: [`Red line: α = ${alpha}; a bar left of it rejects "same model as the reference".`] },
    data: { values: rows },
    width: 420,
    height: { step: manyStatistics ? 16 * statisticCount + 10 : 30 },
    layer: [
      { mark: { type: 'bar', cornerRadiusEnd: 2 }, encoding: { y, x, ...yOffset, color } },
      // A tick at the p-value keeps p = 0 (a bar of no length) visible.
      { mark: { type: 'tick', thickness: 3, opacity: 1 }, encoding: { y, x, ...yOffset, color } },
      { mark: { type: 'text', align: 'left', dx: 5, fontSize: 11 }, encoding: { y, x: { ...x, field: 'labelAt' }, ...yOffset, text: { field: 'label' } } },
      { mark: { type: 'rule', color: ALPHA_COLOR, strokeDash: [3, 3], strokeWidth: 1.5 }, encoding: { x: { datum: alpha } } },
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// (c) Null statistics with the observed statistic

export interface NullHistogramOptions {
  statistic: string;
  title: string;
  observed?: number;
  pValue?: number;
  b?: number;
  alpha: number;
}

/** Upper (1 - alpha) quantile of the null draws: the smallest value that rejects (p = #{null >= obs} / b <= alpha). */
export function criticalValue(values: readonly number[], alpha: number): number {
  const sorted = [...values].sort((a, b) => b - a);
  const k = Math.max(1, Math.floor(alpha * sorted.length));
  return sorted[k - 1];
}

export function nullHistogramSpec(values: readonly number[], opts: NullHistogramOptions): TopLevelSpec {
  if (values.length === 0) throw new RangeError('nullHistogramSpec needs at least one null statistic');
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (opts.observed !== undefined) {
    lo = Math.min(lo, opts.observed);
    hi = Math.max(hi, opts.observed);
  }
  if (lo === hi) {
    // Every draw equal (a degenerate null, e.g. identical samples): show a window around it.
    const pad = Math.abs(lo) * 0.1 || 0.01;
    lo -= pad;
    hi += pad;
  }
  const critical = criticalValue(values, opts.alpha);
  const x = {
    field: 'value',
    type: 'quantitative',
    title: opts.statistic,
    scale: { domain: [lo, hi], nice: false },
    axis: { labelOverlap: 'greedy', labelFlush: true, format: '~g' },
  };
  const layer: Record<string, unknown>[] = [
    {
      data: { values: values.map((value) => ({ value })) },
      mark: { type: 'bar', color: '#9db4cf', stroke: '#6d8fb5', strokeWidth: 0.5 },
      encoding: {
        x: { ...x, bin: { maxbins: 40, extent: [lo, hi] } },
        y: { aggregate: 'count', type: 'quantitative', title: `null draws (of ${values.length})` },
      },
    },
    { data: { values: [{ value: critical }] }, mark: { type: 'rule', color: '#555', strokeDash: [4, 3], strokeWidth: 1.25 }, encoding: { x } },
  ];
  if (opts.observed !== undefined) {
    const p = opts.pValue === undefined ? '' : `, ${formatP(opts.pValue, opts.b ?? values.length)}`;
    layer.push({
      data: { values: [{ value: opts.observed, label: `observed ${formatNumber(opts.observed)}${p}` }] },
      layer: [
        { mark: { type: 'rule', color: ALPHA_COLOR, strokeWidth: 2.5 }, encoding: { x } },
        {
          mark: { type: 'text', color: ALPHA_COLOR, align: 'right', baseline: 'top', dx: -4, y: 2, fontSize: 11, fontWeight: 'bold' },
          encoding: { x, text: { field: 'label' } },
        },
      ],
    });
  }
  return withConfig({
    title: {
      text: opts.title,
      subtitle: [
        `Statistics under the null (permutations or bootstrap draws). ${opts.observed === undefined ? '' : 'Red: observed. '}Dashed: rejection threshold at α = ${opts.alpha} (${formatNumber(critical)}).`,
      ],
    },
    width: 460,
    height: 200,
    layer,
  });
}

// ---------------------------------------------------------------------------------------------
// (d) Per-prompt cosine similarity, and (e) per-prompt perplexities of both sides

export function similaritySpec(prompts: ConsistencyPrompt[], opts: { a: string; b: string; embedModel: string; meanSimilarity: number }): TopLevelSpec {
  if (prompts.length === 0) throw new RangeError('similaritySpec needs at least one prompt');
  const rows = prompts.map((p, i) => ({ i: i + 1, prompt: truncate(p.promptId, 28), similarity: p.similarity }));
  // Dots, not bars: the axis does not start at 0, so that 0.97 and 0.999 can be told apart.
  const lowest = Math.min(opts.meanSimilarity, ...prompts.map((p) => p.similarity));
  const floor = Math.max(-1, lowest - Math.max(0.02, (1 - lowest) * 0.15));
  const y = { field: 'similarity', type: 'quantitative', title: 'Cosine similarity', scale: { domain: [floor, 1], nice: false, zero: false } };
  const few = prompts.length <= 60;
  const x = few
    ? { field: 'prompt', type: 'ordinal', title: 'Prompt', sort: null, axis: { labelAngle: -90, labelLimit: 140, grid: true } }
    : { field: 'i', type: 'quantitative', title: 'Prompt (index)', scale: { domain: [0, prompts.length + 1], nice: false } };
  const marks = { type: 'point', filled: true, size: few ? 60 : 24, color: '#4c78a8', opacity: 0.9 };
  const meanLabel = `mean ${opts.meanSimilarity.toFixed(3)}`;
  return withConfig({
    title: { text: 'Answer similarity per prompt', subtitle: [`${opts.a} vs ${opts.b}; embeddings: ${opts.embedModel}. Dashed: mean.`] },
    width: few ? { step: Math.max(12, Math.min(28, Math.floor(560 / prompts.length))) } : 560,
    height: 200,
    layer: [
      { data: { values: rows }, mark: marks, encoding: { x, y, tooltip: [{ field: 'prompt' }, { field: 'similarity', format: '.3f' }] } },
      {
        data: { values: [{ similarity: opts.meanSimilarity, label: meanLabel }] },
        layer: [
          { mark: { type: 'rule', color: ALPHA_COLOR, strokeDash: [4, 3], strokeWidth: 1.5 }, encoding: { y } },
          {
            mark: { type: 'text', color: ALPHA_COLOR, align: 'right', baseline: 'bottom', dy: -3, x: { expr: 'width' }, fontSize: 11 },
            encoding: { y, text: { field: 'label' } },
          },
        ],
      },
    ],
  });
}

export function perplexitySpec(prompts: ConsistencyPrompt[], opts: { a: string; b: string; scorer: string }): TopLevelSpec | undefined {
  const rows = prompts
    .filter((p) => p.perplexityA !== undefined && p.perplexityB !== undefined)
    .map((p) => ({ prompt: p.promptId, a: p.perplexityA as number, b: p.perplexityB as number }));
  if (rows.length === 0) return undefined;
  const all = rows.flatMap((r) => [r.a, r.b]);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const log = hi / lo >= 20;
  const domain = log ? [lo / 1.1, hi * 1.1] : [Math.max(0, lo - (hi - lo) * 0.05 - 1e-9), hi + (hi - lo) * 0.05 + 1e-9];
  const scale = { type: log ? 'log' : 'linear', domain, nice: false };
  return withConfig({
    title: {
      text: 'Perplexity per prompt, both sides under one scorer',
      subtitle: [`Scorer: ${opts.scorer}, same tokens on both sides. Dashed: equal perplexity.`],
    },
    width: 540,
    height: 380,
    layer: [
      {
        data: {
          values: [
            { a: domain[0], b: domain[0] },
            { a: domain[1], b: domain[1] },
          ],
        },
        mark: { type: 'line', color: '#999', strokeDash: [4, 3] },
        encoding: { x: { field: 'a', type: 'quantitative', scale }, y: { field: 'b', type: 'quantitative', scale } },
      },
      {
        data: { values: rows },
        mark: { type: 'point', filled: true, size: 40, color: '#4c78a8', opacity: 0.8 },
        encoding: {
          x: { field: 'a', type: 'quantitative', title: `Perplexity of ${opts.a}`, scale },
          y: { field: 'b', type: 'quantitative', title: `Perplexity of ${opts.b}`, scale },
          tooltip: [{ field: 'prompt' }, { field: 'a', format: '.3f' }, { field: 'b', format: '.3f' }],
        },
      },
    ],
  });
}

function truncate(s: string, n: number): string {
  const chars = [...s];
  return chars.length <= n ? s : `${chars.slice(0, n - 1).join('')}…`;
}

// ---------------------------------------------------------------------------------------------
// (d) An audit over time: p-value and statistic per endpoint, verdict changes marked

export interface AuditPoint {
  time: Date;
  endpoint: string;
  pValue: number;
  value: number;
  verdict: 'consistent' | 'differs';
  changed: boolean;
}

export function auditHistorySpec(points: AuditPoint[], opts: { alpha: number; statistic: string; title?: string }): TopLevelSpec {
  if (points.length === 0) throw new RangeError('auditHistorySpec needs at least one firing');
  const values = points.map((p) => ({ time: p.time.toISOString(), endpoint: p.endpoint, p: p.pValue, value: p.value, verdict: p.verdict, changed: p.changed }));
  const changes = values.filter((v) => v.changed);
  const x = { field: 'time', type: 'temporal', title: 'firing (UTC)', timeUnit: 'utcyearmonthdatehoursminutesseconds' };
  const endpoints = [...new Set(points.map((p) => p.endpoint))];
  const color = {
    field: 'endpoint',
    type: 'nominal',
    title: 'endpoint',
    scale: { domain: endpoints, range: seriesColors(endpoints) },
    legend: { orient: 'bottom', direction: 'horizontal' },
  };
  const shape = { field: 'verdict', type: 'nominal', title: 'verdict', scale: { domain: ['consistent', 'differs'], range: ['circle', 'triangle-up'] } };
  const marks = (layer: object[]) =>
    changes.length ? [...layer, { data: { values: changes }, mark: { type: 'rule', color: REJECT_COLOR, strokeDash: [2, 2] }, encoding: { x } }] : layer;
  return withConfig({
    title: { text: opts.title ?? 'audit history', subtitle: [`Dashed red verticals: verdict changes. Red line: α = ${opts.alpha}.`] },
    data: { values },
    vconcat: [
      {
        width: 520,
        height: 160,
        layer: marks([
          {
            mark: { type: 'line', point: false },
            encoding: { x, y: { field: 'p', type: 'quantitative', title: 'p-value', scale: { domain: [0, 1] } }, color },
          },
          { mark: { type: 'point', filled: true, size: 50 }, encoding: { x, y: { field: 'p', type: 'quantitative' }, color, shape } },
          { mark: { type: 'rule', color: ALPHA_COLOR, strokeDash: [3, 3], strokeWidth: 1.5 }, encoding: { y: { datum: opts.alpha } } },
        ]),
      },
      {
        width: 520,
        height: 120,
        layer: marks([
          { mark: { type: 'line', point: { filled: true } }, encoding: { x, y: { field: 'value', type: 'quantitative', title: opts.statistic }, color } },
        ]),
      },
    ],
  });
}
