/**
 * `met collect SPEC --dry-run`: the plan per source (requests, units, tokens) priced with the
 * worker config's provider prices, printed without starting anything (no Temporal server here).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { estimatePromptTokens, estimateRun, pilotPositions, promptTokenBound } from '../../collect/estimate';
import { parseRunSpec } from '../../config/runSpec';
import { exited, spawnMet } from '../helpers/processes';

const spec = parseRunSpec({
  corpus: 'plan',
  prompts: {
    inline: [
      { id: 'a', text: 'abcdefgh' },
      { id: 'b', text: 'é'.repeat(10) },
    ],
  },
  samplesPerPrompt: 50,
  unitSize: 40,
  sampling: { maxTokens: 100 },
  sources: [
    { kind: 'provider', provider: 'priced', model: 'm' },
    { kind: 'provider', provider: 'unpriced', model: 'm' },
    { kind: 'local', model: 'm', precision: 'fp32' },
  ],
});

test('estimateRun: requests, units, prompt tokens at their bound (bytes + template), completions at maxTokens, dollars from prices', () => {
  assert.equal(estimatePromptTokens('abcdefgh'), 2);
  assert.equal(estimatePromptTokens('é'.repeat(10)), 5, '20 UTF-8 bytes');
  assert.equal(promptTokenBound('é'.repeat(10), spec.sampling), 24, '20 UTF-8 bytes + 4 template tokens');
  const plan = estimateRun(spec, ['abcdefgh', 'é'.repeat(10)], { priced: { inputPerMillion: 1, outputPerMillion: 3 } });
  const [priced, unpriced, local] = plan.sources;
  // (8 + 4) + (20 + 4) = 36 tokens a pass, 50 passes.
  assert.deepEqual(priced, {
    model: 'm',
    source: 'priced',
    kind: 'provider',
    provider: 'priced',
    requests: 100,
    units: 3,
    promptTokensBound: 1800,
    maxCompletionTokens: 10_000,
    maxCost: (1800 * 1 + 10_000 * 3) / 1e6,
  });
  assert.equal(unpriced.maxCost, null);
  assert.equal(local.maxCost, 0);
  assert.equal(plan.totalMaxCost, null, 'an unpriced provider leaves the total unknown');
  assert.equal(plan.totalEstimate, null, 'no pilot, no estimate');
  const allPriced = estimateRun({ ...spec, sources: spec.sources.filter((s) => s.kind === 'local' || s.provider === 'priced') }, ['abcdefgh', 'é'.repeat(10)], {
    priced: { inputPerMillion: 1, outputPerMillion: 3 },
  });
  assert.equal(allPriced.totalMaxCost, 0.0318);
});

test('estimateRun with a pilot: prompt tokens scaled by bytes from what the provider counted, completions at the pilot mean', () => {
  const prompts = ['abcdefgh', 'é'.repeat(10)];
  // The provider counted 3 tokens for 8 bytes and 6 for 20: 9 tokens per 28 bytes.
  const pilot = [
    { promptIndex: 0, promptTokens: 3, completionTokens: 10 },
    { promptIndex: 1, promptTokens: 6, completionTokens: 30 },
  ];
  const plan = estimateRun(spec, prompts, { priced: { inputPerMillion: 1, outputPerMillion: 3 } }, { 0: pilot });
  const e = plan.sources[0].estimate!;
  assert.equal(e.promptTokens, Math.round((9 / 28) * 28 * 50));
  assert.equal(e.completionTokens, 20 * 100);
  assert.equal(e.cost, (450 * 1 + 2000 * 3) / 1e6);
  assert.ok(e.costLow! < e.cost && e.cost < e.costHigh!);
  assert.deepEqual(e.pilot, { requests: 2, promptTokens: 9, completionTokens: 40, cost: (9 + 40 * 3) / 1e6 });
  assert.equal(plan.sources[1].estimate, undefined, 'no pilot for that source');
  assert.equal(e.promptTokensFrom, 'pilot');
  const counted = estimateRun(spec, prompts, { priced: { inputPerMillion: 1, outputPerMillion: 3 } }, { 0: pilot }, { 0: [5, 7] }).sources[0].estimate!;
  assert.deepEqual([counted.promptTokens, counted.promptTokensFrom], [12 * 50, 'tokenizer'], "the endpoint's counts, once per request");
  assert.deepEqual(pilotPositions(100, 4), [12, 37, 62, 87], 'spread over the run');
  assert.deepEqual(pilotPositions(3, 10), [0, 1, 2]);
});

test("met collect --dry-run prints the plan with the worker config's prices and starts nothing", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'met-dryrun-'));
  mkdirSync(join(dir, 'data')); // a client command's --data names an existing folder
  try {
    const specFile = join(dir, 'spec.json');
    writeFileSync(specFile, JSON.stringify({ ...spec, prompts: { set: 'demo', limit: 3 } }));
    const workers = join(dir, 'workers.yaml');
    writeFileSync(workers, 'providers:\n  - { name: priced, baseURL: "http://127.0.0.1:9/v1", prices: { inputPerMillion: 0.5, outputPerMillion: 2 } }\n');
    // An address nobody answers on: a dry run must not need Temporal.
    const child = spawnMet(['collect', specFile, '--dry-run', '--config', workers, '--data', join(dir, 'data'), '--address', '127.0.0.1:9']);
    assert.equal(await exited(child), 0, child.output());
    const out = child.output();
    assert.match(out, /dry run: corpus plan, 3 prompts x 50 samples, maxTokens 100; nothing started/);
    assert.match(out, /m\/priced\s+150\s+4\s+\d+\s+15000\s+\$0\.03\d\d/);
    assert.match(out, /m\/unpriced\s+150\s+4\s+\d+\s+15000\s+no price/);
    assert.match(out, /m\/fp32\s+150\s+4\s+\d+\s+15000\s+local/);
    assert.match(out, /total cost <= no price/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
