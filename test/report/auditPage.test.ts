import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { auditChartSvg, writeAuditPage } from '../../report/audit';
import { auditHistorySpec, renderSvg } from '../../report/plots';

const t = (s: number) => new Date(Date.UTC(2026, 10, 30, 10, 0, s));
const points = [
  { time: t(0), endpoint: 'm/a', pValue: 0.6, value: 0.01, verdict: 'consistent' as const, changed: false, firingId: 'f0', reject: false, n: 40 },
  { time: t(5), endpoint: 'm/a', pValue: 0.001, value: 0.2, verdict: 'consistent' as const, changed: false, firingId: 'f1', reject: true, n: 40 },
  { time: t(10), endpoint: 'm/a', pValue: 0.002, value: 0.25, verdict: 'differs' as const, changed: true, firingId: 'f2', reject: true, n: 40 },
  { time: t(10), endpoint: 'm/b', pValue: 0.4, value: 0.0, verdict: 'consistent' as const, changed: false, firingId: 'f2', reject: false, n: 40 },
];

test('the audit history figure renders without warnings: p-values and statistic over time, changes marked', async () => {
  const r = await renderSvg(auditHistorySpec(points, { alpha: 0.01, statistic: 'mmd_hamming' }));
  assert.deepEqual(r.warnings, []);
  assert.match(r.svg, /p-value/);
  assert.match(r.svg, /mmd_hamming/);
  assert.ok(r.width > 500 && r.height > 250, `${r.width} x ${r.height}`);
});

test('the audit page lists the changes and every firing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'met-audit-page-'));
  try {
    const file = await writeAuditPage(dir, { name: 'w<1>', statistic: 'mmd_hamming', alpha: 0.01, confirmations: 2, schedule: 'every 5s', points });
    const html = readFileSync(file, 'utf8');
    assert.match(html, /<h1>audit w&lt;1&gt;<\/h1>/);
    assert.match(html, /<svg/);
    assert.match(html, /<table id="changes">.*<td>2026-11-30T10:00:10Z<\/td><td>m\/a<\/td><td>consistent → differs<\/td><td>0.00200<\/td>/s);
    assert.equal((html.match(/<tr/g) ?? []).length, 1 + 1 + 1 + points.length, 'changes header + 1 change, firings header + one row per firing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with a billing check the firings table shows billed over counted tokens, marked over the threshold', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'met-audit-page-'));
  try {
    const billed = points.map((p, i) => ({ ...p, billingRatio: i === 3 ? null : 1 + i / 10, billingMaxRatio: 1.05 }));
    const html = readFileSync(
      await writeAuditPage(dir, { name: 'w', statistic: 'mmd_hamming', alpha: 0.01, confirmations: 2, schedule: 'every 5s', points: billed }),
      'utf8',
    );
    assert.match(html, /<th>billed\/counted tokens<\/th>/);
    assert.deepEqual(
      [...html.matchAll(/<td>([^<]*)<\/td><\/tr>/g)].slice(-4).map((m) => m[1]),
      ['1.000', '1.100 (over 1.05)', '1.200 (over 1.05)', '-'],
    );
    const plain = readFileSync(
      await writeAuditPage(dir, { name: 'w', statistic: 'mmd_hamming', alpha: 0.01, confirmations: 2, schedule: 'every 5s', points }),
      'utf8',
    );
    assert.doesNotMatch(plain, /billed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every tag of an SVG string: its name and attribute names, or null where the text is not plain SVG markup. */
function tags(svg: string): { name: string; attributes: string[] }[] | null {
  const out: { name: string; attributes: string[] }[] = [];
  // Outside tags no '<' may appear (text is escaped): each one starts a tag of name="value" pairs with no raw quote inside.
  for (const piece of svg.split('<').slice(1)) {
    const m = /^(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*\/?>([^>]*)$/s.exec(piece);
    if (!m) return null;
    out.push({ name: m[2], attributes: [...m[3].matchAll(/([\w:-]+)="/g)].map((a) => a[1]) });
  }
  return out;
}

test("a hostile endpoint name reaches the console's chart as text, never as markup", async () => {
  const hostile = `m/"><script>alert(1)</script><img src=x onerror=alert(2)><text onclick='x'>&amp;`;
  const firings = points.map((p) => ({ ...p, endpoint: hostile }));
  const svg = await auditChartSvg(firings, { alpha: 0.01, statistic: 'mmd_hamming', title: hostile, idPrefix: 'c1' });
  const parsed = tags(svg);
  assert.ok(parsed, 'the SVG is plain markup');
  assert.deepEqual([...new Set(parsed.map((t) => t.name))].sort(), ['g', 'line', 'path', 'rect', 'svg', 'text']);
  const attributes = new Set(parsed.flatMap((t) => t.attributes));
  assert.deepEqual(
    [...attributes].filter((a) => /^on|href|src|style/i.test(a)),
    [],
  );
  assert.doesNotMatch(svg, /<script|<img/i);
  // The name is drawn (the title and the legend, escaped); its '&amp;' stays literal text.
  assert.ok(
    svg.includes("m/\"&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&lt;text onclick='x'&gt;&amp;amp;"),
    'the title, escaped',
  );
  // The same name in markup would have been found by the check above.
  assert.equal(tags(`<svg><text>${hostile}</text></svg>`), null);
});
