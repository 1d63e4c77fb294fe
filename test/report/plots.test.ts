import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Resvg } from '@resvg/resvg-js';
import { FontMetrics } from '../../report/fontMetrics';
import { resolveFigureFonts } from '../../report/fonts';
import {
  auditHistorySpec,
  criticalValue,
  namespaceSvgIds,
  nullHistogramSpec,
  powerCurveSpec,
  pValueSpec,
  renderPng,
  renderSvg,
  similaritySpec,
} from '../../report/plots';
import { ConsistencySection, PowerSection, Report, TestSection } from '../../report/schemas';
import { powerPoints } from '../../report/tables';
import { consistencyReportInput, powerReportInput, verdictReportInput } from './fixtures';
import { countColor, decodePng, summarisePixels } from './png';
import { colorChoices, REJECT_COLOR, SERIES_PALETTE, seriesColor, seriesColors } from '../../report/palette';

const power = Report.parse(powerReportInput()).sections[0] as PowerSection;
const verdicts = Report.parse(verdictReportInput()).sections[0] as TestSection;
const consistency = Report.parse(consistencyReportInput()).sections[0] as ConsistencySection;

/** Items drawn by one kind of data mark (role-mark groups, not axes or legends), with their attributes. */
function markItems(svg: string, mark: string): string[] {
  const items: string[] = [];
  for (const g of svg.matchAll(new RegExp(`<g class="mark-${mark} role-mark[^"]*"[^>]*>(.*?)</g>`, 'gs'))) {
    items.push(...(g[1].match(/<(path|line|text)\b[^>]*>/g) ?? []));
  }
  return items;
}

const translateY = (item: string) => Number(/translate\([\d.-]+,([\d.-]+)\)/.exec(item)?.[1]);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('the power figure draws one point per grid point, bands, the alpha line and a legend', async () => {
  const points = powerPoints(power);
  const { svg, warnings } = await renderSvg(powerCurveSpec(points, { alpha: 0.05, intervalLabel: '95% Wilson score intervals' }));
  assert.deepEqual(warnings, []);
  const symbols = markItems(svg, 'symbol');
  assert.equal(symbols.length, points.length, 'one point per (series, statistic, n)');
  assert.equal(markItems(svg, 'area').length, 6, 'one band per series and statistic');
  assert.ok(markItems(svg, 'line').length >= 6);
  for (const text of [
    'Power versus samples per prompt',
    'Wilson',
    'α = 0.05',
    'Q4_0',
    'Q8_0',
    'F32 vs F32 (null)',
    'mmd_hamming',
    'two_sample_L1',
    'Rejection rate',
  ]) {
    assert.ok(svg.includes(text), `missing text ${text}`);
  }
  // Higher power is drawn higher: Q4_0's points (its own colour) sit above the null (grey) points on average.
  const q4 = symbols.filter((s) => s.includes(`fill="${seriesColor('Q4_0')}"`)).map(translateY);
  const nul = symbols.filter((s) => s.includes('fill="#6b6b6b"')).map(translateY);
  assert.equal(q4.length, 8);
  assert.equal(nul.length, 8);
  assert.ok(mean(q4) < mean(nul), `Q4_0 mean y ${mean(q4)} should be above null ${mean(nul)}`);
});

test('rendering is deterministic', async () => {
  const spec = pValueSpec(verdicts.results, verdicts.alpha);
  const a = await renderSvg(spec);
  await renderSvg(powerCurveSpec(powerPoints(power), { alpha: 0.05, intervalLabel: 'x' }));
  const b = await renderSvg(spec);
  assert.equal(a.svg, b.svg);
});

test('the p-value figure has one bar per endpoint coloured by verdict', async () => {
  const { svg } = await renderSvg(pValueSpec(verdicts.results, verdicts.alpha));
  // Bars and the ticks that keep p = 0 visible are both rects: two per endpoint.
  const rects = markItems(svg, 'rect');
  assert.equal(rects.length, 4);
  assert.equal(rects.filter((b) => b.includes('fill="#e45756"')).length, 2, 'one rejected endpoint');
  assert.ok(svg.includes('p &lt; 0.002') || svg.includes('p < 0.002'));
  assert.ok(svg.includes('endpoint B &lt;claims F32&gt; vs F32'), 'labels are XML-escaped');
});

test('the null histogram marks the observed value and the rejection threshold', async () => {
  const r = verdicts.results[1];
  const { svg } = await renderSvg(
    nullHistogramSpec(r.nullStatistics!, { statistic: r.statistic, title: 'null', observed: r.value, pValue: r.pValue, b: r.b, alpha: 0.05 }),
  );
  assert.ok(markItems(svg, 'rect').length >= 10, 'histogram bars');
  assert.equal(markItems(svg, 'rule').length, 2, 'observed and critical-value rules');
  assert.ok(svg.includes('observed 0.0093, p &lt; 0.002') || svg.includes('observed 0.0093, p < 0.002'));
  // p = #{null >= observed}/b <= alpha exactly for values at or above the critical value.
  const values = r.nullStatistics!;
  const c = criticalValue(values, 0.05);
  assert.ok(values.filter((v) => v >= c).length / values.length <= 0.05);
  const below = Math.max(...values.filter((v) => v < c));
  assert.ok(values.filter((v) => v >= below).length / values.length > 0.05, 'the next lower value would not reject');
});

test('the similarity figure draws one dot per prompt and the mean', async () => {
  const meanSimilarity = mean(consistency.prompts.map((p) => p.similarity));
  const { svg } = await renderSvg(similaritySpec(consistency.prompts, { a: 'local F32', b: 'served F32', embedModel: 'e', meanSimilarity }));
  assert.equal(markItems(svg, 'symbol').length, consistency.prompts.length);
  assert.ok(svg.includes(`mean ${meanSimilarity.toFixed(3)}`));
});

test('PNG figures are not blank and show the series colours', async () => {
  const { svg, width, height } = await renderSvg(powerCurveSpec(powerPoints(power), { alpha: 0.05, intervalLabel: '95% Wilson score intervals' }));
  const img = decodePng(renderPng(svg, { scale: 2 }));
  assert.equal(img.width, Math.round(width * 2));
  assert.equal(img.height, Math.round(height * 2));
  const px = summarisePixels(img);
  assert.ok(px.nonBackgroundShare > 0.05, `only ${px.nonBackgroundShare} of pixels drawn`);
  assert.ok(px.distinctColors > 30, `${px.distinctColors} colours`);
  assert.ok(countColor(img, seriesColor('Q4_0'), 16) > 300, 'Q4_0 line and points');
  assert.ok(countColor(img, seriesColor('Q8_0'), 16) > 300, 'Q8_0 line and points');
  assert.ok(countColor(img, '#b2182b', 16) > 50, 'alpha line');
});

test('PNG text is drawn with a local font (no network, no blank labels)', () => {
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="5" y="28" font-family="sans-serif" font-size="24" fill="black">Power 0.95</text></svg>';
  const img = decodePng(renderPng(svg, { scale: 1 }));
  const px = summarisePixels(img);
  assert.ok(px.nonBackgroundShare > 0.03, `text drew ${px.nonBackgroundShare} of pixels`);
});

test('layout widths come from the font resvg draws with', () => {
  const fonts = resolveFigureFonts();
  const metrics = FontMetrics.fromFile(fonts.regular);
  assert.ok(metrics.width('iiii', 10) < metrics.width('MMMM', 10));
  for (const text of ['Rejection rate', 'Samples per prompt per side (N = n × m)']) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="60"><text x="0" y="40" font-family="${fonts.family}" font-size="20">${text}</text></svg>`;
    const box = new Resvg(svg, { font: { loadSystemFonts: false, fontFiles: fonts.files, defaultFontFamily: fonts.family } }).getBBox();
    assert.ok(box, 'resvg measured the text');
    const predicted = metrics.width(text, 20);
    // Ink bounds are a little narrower than advance widths (side bearings).
    assert.ok(Math.abs(box.width - predicted) / predicted < 0.06, `${text}: resvg ${box.width} vs metrics ${predicted}`);
  }
});

test('ids are namespaced so several inline SVGs cannot share clip paths', () => {
  const svg = '<svg><defs><clipPath id="clip1"><rect/></clipPath></defs><g clip-path="url(#clip1)"><use href="#clip1"/></g></svg>';
  assert.equal(
    namespaceSvgIds(svg, 'fig-a'),
    '<svg><defs><clipPath id="fig-a-clip1"><rect/></clipPath></defs><g clip-path="url(#fig-a-clip1)"><use href="#fig-a-clip1"/></g></svg>',
  );
});

/** Series name -> colour, as the figure's legends draw them (symbol stroke, then its label). */
function legendColors(svg: string): Map<string, string> {
  const out = new Map<string, string>();
  const entry =
    /role-legend-symbol"[^>]*><path\b[^>]*\bstroke="(#[0-9a-f]{6})"[^>]*\/><\/g><g class="mark-text role-legend-label"[^>]*><text\b[^>]*>([^<]*)<\/text>/g;
  for (const m of svg.matchAll(entry)) out.set(m[2], m[1]);
  return out;
}

test('a series has the colour of its name in every figure, whatever the other series (issue #29)', async () => {
  const points = powerPoints(power);
  // Figure 1: the fixture's grid (Q4_0, Q8_0 and the null). Figure 2: Q8_0 listed first, beside a series figure 1 lacks.
  const other = points.filter((p) => p.series !== 'Q8_0').map((p) => (p.series === 'Q4_0' ? { ...p, series: 'tiny/served-by-x' } : p));
  const reordered = [...points.filter((p) => p.series === 'Q8_0'), ...other];
  const one = legendColors((await renderSvg(powerCurveSpec(points, { alpha: 0.05, intervalLabel: 'x' }))).svg);
  const two = legendColors((await renderSvg(powerCurveSpec(reordered, { alpha: 0.05, intervalLabel: 'x' }))).svg);
  assert.deepEqual([...two.keys()].sort(), ['F32 vs F32 (null)', 'Q8_0', 'tiny/served-by-x']);
  assert.equal(one.get('Q8_0'), seriesColor('Q8_0'));
  assert.equal(two.get('Q8_0'), seriesColor('Q8_0'), 'the same colour in a figure with other series, in another position');
  assert.notEqual(one.get('Q4_0'), one.get('Q8_0'));
  // The audit history (met audit show --html and the console) colours endpoints the same way.
  const t = (s: number) => new Date(Date.UTC(2026, 10, 30, 10, 0, s));
  const firing = (endpoint: string, s: number) => ({ time: t(s), endpoint, pValue: 0.5, value: 0.1, verdict: 'consistent' as const, changed: false });
  const audit = legendColors((await renderSvg(auditHistorySpec([firing('a/z', 0), firing('Q8_0', 1)], { alpha: 0.01, statistic: 's' }))).svg);
  assert.equal(audit.get('Q8_0'), seriesColor('Q8_0'));
  assert.equal(audit.get('a/z'), seriesColor('a/z'));
});

test('two series whose names want the same colour get two colours; the one first in name order keeps its own', () => {
  const want = seriesColor('Q8_0');
  const rival = Array.from({ length: 200 }, (_, i) => `m/${i}`).find((n) => seriesColor(n) === want);
  assert.ok(rival, 'some name shares the first choice of Q8_0');
  const [first, second] = [rival, 'Q8_0'].sort();
  for (const order of [
    [rival, 'Q8_0'],
    ['Q8_0', rival],
  ]) {
    const colors = seriesColors(order);
    const of = new Map(order.map((n, i) => [n, colors[i]]));
    assert.notEqual(colors[0], colors[1]);
    assert.equal(of.get(first), want);
    assert.equal(
      of.get(second),
      colorChoices(second).find((c) => c !== want),
    );
  }
  for (const c of Array.from({ length: 50 }, (_, i) => seriesColor(`series-${i}`))) assert.ok(SERIES_PALETTE.includes(c) && c !== REJECT_COLOR);
});
