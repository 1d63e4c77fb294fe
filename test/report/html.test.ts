import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ZodError } from 'zod';
import { buildReport, writeReport } from '../../report/html';
import type { ReportInput } from '../../report/schemas';
import { combinedInput, powerReportInput } from './fixtures';
import { decodePng, summarisePixels } from './png';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'met-report-test-'));
  dirs.push(d);
  return d;
}

test('writeReport writes a self-contained page, figures as SVG, PNG and Vega-Lite, and the data', async () => {
  const dir = tempDir();
  const out = await writeReport(dir, combinedInput(), { now: new Date('2026-11-22T12:00:00Z') });
  assert.equal(out.htmlPath, join(dir, 'index.html'));
  const html = readFileSync(out.htmlPath, 'utf8');

  // Figures: p-values + 2 null histograms, power + 1 null histogram, similarity + perplexity.
  assert.equal(out.figures.length, 7);
  assert.equal((html.match(/<svg\b/g) ?? []).length, out.figures.length, 'every figure is inline');
  for (const f of out.figures) {
    for (const p of [f.svgPath, f.pngPath!, f.specPath]) assert.ok(existsSync(p), `${p} missing`);
    const px = summarisePixels(decodePng(readFileSync(f.pngPath!)));
    assert.ok(px.nonBackgroundShare > 0.02, `${f.id}.png looks blank`);
    JSON.parse(readFileSync(f.specPath, 'utf8'));
  }
  // Every relative link resolves to a written file.
  const links = [...html.matchAll(/href="([^"#:]+)"/g)].map((m) => m[1]);
  assert.ok(links.length >= 3 * out.figures.length);
  for (const l of links) assert.ok(existsSync(join(dir, l)), `broken link ${l}`);

  // Self-contained: no scripts, stylesheets, fonts or images from anywhere.
  assert.doesNotMatch(html, /<script|<link\b|<img\b|@import|url\(http/i);
  assert.doesNotMatch(html, /src="https?:/);

  // Metadata, verdicts, the paper table, escaping.
  for (const text of [
    'power-test-grid',
    'Temporal UI',
    'http://127.0.0.1:8233/namespaces/default/workflows/power-test-grid',
    'grid = <code>7</code>',
    'differs from F32',
    'consistent with F32',
    'Power at α = 0.05, n = 10 samples per prompt (N = 250 per side, m = 25)',
    'type-I error',
    'mean cosine similarity',
  ]) {
    assert.ok(html.includes(text), `page lacks ${text}`);
  }
  assert.ok(html.includes('endpoint B &lt;claims F32&gt;'));
  assert.ok(!html.includes('<claims F32>'), 'user text is escaped');
  // Inline SVG ids are unique across the page.
  const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, ids.length, 'duplicate ids');

  const data = JSON.parse(readFileSync(out.dataPath, 'utf8'));
  assert.equal(data.sections.length, 3);
  assert.equal(data.sections[1].ciMethod, 'wilson', 'defaults are filled in the written data');
});

test('the same input and time give a byte-identical page', async () => {
  const now = new Date('2026-11-22T12:00:00Z');
  const a = await buildReport(powerReportInput(), { now, png: false });
  const b = await buildReport(powerReportInput(), { now, png: false });
  assert.equal(a.html, b.html);
  assert.equal(a.figures[0].png, undefined);
});

test('a bad report is refused with the field path and nothing is written', async () => {
  const dir = join(tempDir(), 'out');
  const input = powerReportInput();
  const section = input.sections[0] as Extract<ReportInput['sections'][number], { kind: 'power' }>;
  section.cells[3] = { ...section.cells[3], rejections: section.cells[3].sims + 1 };
  await assert.rejects(writeReport(dir, input), (err: unknown) => {
    assert.ok(err instanceof ZodError);
    assert.deepEqual(err.issues[0].path, ['sections', 0, 'cells', 3, 'rejections']);
    return true;
  });
  assert.equal(existsSync(dir), false);
});
