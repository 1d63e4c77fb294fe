/**
 * The report's figures at the page's width (1280 px screenshots, a 1180 px column): every figure is
 * at least 600 px wide and no two drawn texts overlap, checked on the boxes of the texts Vega lays
 * out (labels, titles, legends, the α and mean labels), figure by figure. And a reference-vs-reference
 * rejection rate above α beyond its interval is called out in the page, not left under a caption.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildReport } from '../../report/html';
import { overlappingTexts, renderSvg, tokenPowerSpec } from '../../report/plots';
import { combinedInput, powerReportInput } from './fixtures';

test('every figure of the report is at least 600 px wide and has no overlapping texts', { timeout: 120_000 }, async () => {
  const built = await buildReport(combinedInput(), { png: false });
  assert.ok(built.figures.length >= 6, `${built.figures.length} figures`);
  for (const figure of built.figures) {
    const rendered = await renderSvg(figure.spec);
    assert.ok(rendered.width >= 600, `${figure.id} is ${rendered.width} px wide`);
    assert.ok(rendered.texts.length > 5, `${figure.id}: texts found (${rendered.texts.length})`);
    const overlaps = overlappingTexts(rendered.texts);
    assert.deepEqual(
      overlaps.map(([a, b]) => `${a.text} ~ ${b.text}`),
      [],
      `${figure.id}: overlapping labels`,
    );
  }
});

test('the overlap check finds what it should: the same label drawn on one spot twice', () => {
  const box = { text: 'α = 0.05', x1: 10, y1: 10, x2: 60, y2: 22 };
  assert.equal(overlappingTexts([box, { ...box }]).length, 1);
  assert.equal(overlappingTexts([box, { ...box, x1: 61, x2: 100 }]).length, 0);
});

test('a type-I error above α beyond its interval is called out in the power section', async () => {
  const input = powerReportInput();
  const section = input.sections[0] as Extract<(typeof input.sections)[number], { kind: 'power' }>;
  // Every F32-vs-F32 cell at n = 10 rejects 20 of 50 times (interval far above 0.05).
  for (const c of section.cells) if (c.alternative === 'F32' && c.nPerPrompt === 10) c.rejections = 20;
  const built = await buildReport(input, { png: false });
  assert.match(built.html, /type-I error 0\.40 \[[0-9.]+, [0-9.]+\], above α = 0\.05 beyond its interval/);
  const calibrated = await buildReport(powerReportInput(), { png: false });
  assert.doesNotMatch(calibrated.html, /beyond its interval/);
});

test('the power-per-token figure (bench/power/gemmaPerToken.ts): one panel per scenario, log token axis, no overlapping texts', async () => {
  const points = ['Q4_0 serves every request', 'Q4_0 serves 25% of requests'].flatMap((scenario, s) =>
    ['MMD-Hamming', 'RUT', 'one-sample G²', 'tracking'].flatMap((test, t) =>
      [1, 2, 4, 8].map((k) => ({ test, scenario, tokens: 60 * k * 10 ** (t % 3), power: Math.min(1, (k * (t + 1)) / (8 * (s + 1))) })),
    ),
  );
  const rendered = await renderSvg(tokenPowerSpec(points, { alpha: 0.05, target: 0.8, title: 'Power against endpoint tokens' }));
  assert.ok(rendered.width >= 600, `${rendered.width} px wide`);
  for (const label of ['Q4_0 serves every request', 'Q4_0 serves 25% of requests', 'tracking', 'Endpoint tokens, all requests'])
    assert.ok(
      rendered.texts.some((t) => t.text === label),
      `${label} drawn`,
    );
  assert.deepEqual(
    overlappingTexts(rendered.texts).map(([a, b]) => `${a.text} ~ ${b.text}`),
    [],
  );
  assert.throws(() => tokenPowerSpec([], { alpha: 0.05, target: 0.8 }), /at least one point/);
});
