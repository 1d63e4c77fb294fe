/**
 * The audit specs docs/audits.md shows, read as `met audit create FILE` reads them (the YAML file,
 * then the audit spec's zod schema): a snippet the schema refuses, or one whose comments say
 * something the schema does not do, fails here, so the page cannot drift from the code.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseAuditSpec, planTracking, TRACKING_STATISTIC, TrackingSpec } from '../../config/auditSpec';
import { readSpecFile } from '../../config/load';
import { PROJECT_ROOT } from '../../temporal/binary';

const dir = mkdtempSync(join(tmpdir(), 'met-audit-docs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const page = readFileSync(join(PROJECT_ROOT, 'docs', 'audits.md'), 'utf8');
/** Every ```yaml block of the page, in order. */
const snippets = [...page.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]);

/** A snippet as met audit create reads it: written to a file, read as YAML, parsed by the audit spec schema. */
function create(text: string, file: string) {
  const path = join(dir, file);
  writeFileSync(path, text);
  return parseAuditSpec(readSpecFile(path), path);
}

test('docs/audits.md has its two audit specs: the sample-based one and the tracking tier', () => {
  assert.equal(snippets.length, 2, `yaml blocks in docs/audits.md: ${snippets.length}`);
  assert.match(snippets[1], /statistic: logprob_tracking/);
});

test('the sample-based audit spec of docs/audits.md is one met audit create accepts, as its comments say', () => {
  const spec = create(snippets[0], 'audit.yaml');
  assert.equal(spec.name, 'watch-llama');
  assert.equal(spec.statistic, 'mmd_hamming');
  assert.deepEqual(spec.reference, { kind: 'corpus', corpus: 'ref', model: 'llama-3.1-8b', source: 'fp16' });
  assert.deepEqual(spec.identify?.candidates, [
    { model: 'llama-3.1-8b', source: 'fp16' },
    { model: 'llama-3.1-8b', source: 'int4' },
  ]);
  assert.deepEqual([spec.alpha, spec.confirmations, spec.schedule], [0.05, 2, { interval: '6h' }]);
  // Its comment's alternative: a cron schedule instead of the interval.
  const cron = /# or (\{ cron: .*\}) \(UTC\)/.exec(snippets[0]);
  assert.ok(cron, 'the schedule comment gives a cron alternative');
  assert.deepEqual(create(snippets[0].replace('{ interval: 6h }', cron[1]), 'cron.yaml').schedule, { cron: '0 */6 * * *' });
});

test('the tracking audit spec of docs/audits.md is one met audit create accepts; its "defaults" are the schema defaults', () => {
  const spec = create(snippets[1], 'track.yaml');
  assert.equal(spec.statistic, TRACKING_STATISTIC);
  assert.deepEqual(spec.prompts, { file: 'probes.jsonl' });
  assert.equal(spec.reference, undefined);
  // The comment says "the defaults": leaving tracking's fields out gives the same.
  assert.match(snippets[1], /tracking: \{ probes: 32, topK: 5, baselineFirings: 2 \} +# the defaults/);
  assert.deepEqual(spec.tracking, TrackingSpec.parse({}));
  assert.deepEqual(create(snippets[1].replace(/tracking: \{[^}]*\}/, 'tracking: {}'), 'defaults.yaml').tracking, spec.tracking);
  assert.deepEqual([spec.alpha, spec.confirmations, spec.schedule], [0.05, 2, { interval: '1h' }]);
  // A firing of it: one probe request per endpoint, as the page describes.
  const plan = planTracking(spec, '20261206T000000Z-00000000');
  assert.deepEqual(
    plan.endpoints.map((e) => e.endpoint),
    ['llama-3.1-8b/together'],
  );
  // What the page says the tracking tier refuses with it.
  for (const extra of ['samplesPerPrompt: 10', 'reference: { kind: local, model: llama-3.1-8b, precision: fp16 }', 'budget: { usd: 1 }'])
    assert.throws(() => create(`${snippets[1]}${extra}\n`, 'refused.yaml'), /logprob_tracking/, extra);
});
