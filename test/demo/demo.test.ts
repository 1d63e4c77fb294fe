import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { devServerStatus, freePort } from '../../temporal/devServer';
import { exited, spawnMet } from '../helpers/processes';

/** The README's main job, smaller: the honest endpoint is not rejected, the dishonest one is. */
test('met demo collects, tests and reports, with the right verdicts, and leaves nothing running', { timeout: 240_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'met-demo-'));
  try {
    const port = await freePort();
    const args = ['demo', '--data', dataDir, '--port', String(port), '--headless', '--prompts', '8', '--samples', '16', '--b', '500', '--json'];
    const child = spawnMet(args, { TEMPORAL_ADDRESS: '' });
    assert.equal(await exited(child), 0, child.output());
    const out = child.output();
    const result = JSON.parse(out.slice(out.indexOf('{\n')));
    const [a, b] = result.results;
    assert.equal(a.reject, false, `endpoint-a p = ${a.pvalue}`);
    assert.equal(b.reject, true, `endpoint-b p = ${b.pvalue}`);
    assert.match(out, /endpoint-a\s+consistent with tiny fp32 \(F32\)/);
    assert.match(out, /endpoint-b\s+differs from tiny fp32 \(F32\)/);
    assert.match(out, /^tiny nf4 \(Q4_0\) {2,}\d/m, 'the power table names precisions with their GGUF types');
    assert.doesNotMatch(out, /tiny[./](int8|nf4)\b/, 'one vocabulary: never the bare source name');
    assert.ok(existsSync(result.reportPath));
    assert.match(readFileSync(result.reportPath, 'utf8'), /endpoint-b/);
    assert.equal((await devServerStatus(dataDir)).running, false, 'the embedded server was stopped');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
