import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeReport } from '../../report/html';
import { findChromium, screenshot } from '../../report/screenshot';
import { combinedInput } from './fixtures';
import { countColor, decodePng, summarisePixels } from './png';
import { ACCEPT_COLOR, ALPHA_COLOR, seriesColor } from '../../report/palette';

/**
 * The report in a real browser: headless Debian Chromium opens the page and screenshots it, and
 * the screenshot must show the figures. In CI a missing Chromium is a failure (scripts/ensure-chromium.sh
 * installs it); on a developer machine the test is skipped with the reason.
 */

const chromium = findChromium();
const inCi = Boolean(process.env.CI) && process.env.CI !== 'false';
const skip = !chromium && !inCi ? 'Chromium not installed: run `bash scripts/ensure-chromium.sh` (Debian chromium)' : false;
if (skip) console.log(`skipping browser test: ${skip}`);

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('the report opens in headless Chromium and its figures render', { skip, timeout: 120_000 }, async () => {
  assert.ok(chromium, 'Chromium is required in CI: run `bash scripts/ensure-chromium.sh` before the tests');
  const dir = mkdtempSync(join(tmpdir(), 'met-report-browser-'));
  dirs.push(dir);
  const { htmlPath } = await writeReport(join(dir, 'report'), combinedInput(), { png: false });

  const shot = join(dir, 'page.png');
  await screenshot(htmlPath, shot, { width: 1280, height: 5200 });
  const page = decodePng(readFileSync(shot));
  assert.equal(page.width, 1280);
  const px = summarisePixels(page);
  assert.ok(px.nonBackgroundShare > 0.05 && px.luminanceVariance > 100, `blank-looking screenshot: ${JSON.stringify(px)}`);

  // Figure-only colours: Q8_0's own colour (report/palette.ts) is drawn only by the power figure, the
  // p-value bar and the similarity marks are blue, red marks alpha and observed values.
  const q8 = seriesColor('Q8_0');
  assert.ok(![ACCEPT_COLOR, ALPHA_COLOR].includes(q8));
  const q8Pixels = countColor(page, q8, 8);
  const blue = countColor(page, '#4c78a8', 8);
  const red = countColor(page, '#b2182b', 8);
  assert.ok(q8Pixels > 150, `power curves not visible (${q8Pixels} pixels of Q8_0's colour)`);
  assert.ok(blue > 1500, `figures not visible (${blue} blue pixels)`);
  assert.ok(red > 100, `alpha / observed marks not visible (${red} red pixels)`);

  // Control: the same page without its inline figures has none of those pixels, so the check above
  // measures the figures and not the page's text or tables.
  const bare = join(dir, 'report', 'bare.html');
  writeFileSync(bare, readFileSync(htmlPath, 'utf8').replace(/<svg\b[\s\S]*?<\/svg>/g, ''));
  const bareShot = join(dir, 'bare.png');
  await screenshot(bare, bareShot, { width: 1280, height: 5200 });
  const barePage = decodePng(readFileSync(bareShot));
  assert.ok(countColor(barePage, q8, 8) < 20, 'Q8_0 pixels without figures');
  const bareBlue = countColor(barePage, '#4c78a8', 8);
  console.log(`figure pixels with figures: blue ${blue}, Q8_0 ${q8Pixels}, red ${red}; without: blue ${bareBlue}`);
  assert.ok(bareBlue < blue / 10, `blue pixels without figures: ${bareBlue} vs ${blue}`);
});
