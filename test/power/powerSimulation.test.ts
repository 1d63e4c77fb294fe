import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { PowerSpec } from '../../config/powerSpec';
import { createDuckDB, kindDir, writeShard, type SampleRow } from '../../datasets';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { powerSimulation } from '../../workflows/powerSimulation';
import { cpuWorkerPlan } from '../../workers/cpu';
import { powerSection } from '../../client/power';
import { startTestTemporal, uniqueName, type TestTemporal } from '../helpers/temporal';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = mkdtempSync(join(tmpdir(), 'met-power-'));

/** A corpus of three "models": the reference, a weakly and a strongly degraded one. */
async function writeCorpus() {
  const sources = [['reference', 0], ['weak', 0.3], ['strong', 1.2]] as const;
  for (const [source, skew] of sources) {
    const backend = new TextGeneratorBackend('toy', 'fp32', skew);
    const rows: SampleRow[] = [];
    for (let p = 0; p < 10; p++) {
      for (let s = 0; s < 60; s++) {
        const g = await backend.generate({ prompt: `prompt ${p}`, maxTokens: 12, temperature: 1, topP: 1, seed: 1000 * p + s + (source === 'reference' ? 0 : 7_000_000 * (skew + 1)) });
        rows.push({
          corpus: 'power', runId: 'fixture', unitId: 'u0', model: 'toy', source, promptSet: 'fixture', promptId: `p${p}`, sampleIndex: s,
          prompt: `prompt ${p}`, completion: g.text, tokenIds: g.tokenIds, tokenLogprobs: null, finishReason: g.finishReason,
          sampling: { temperature: 1, topP: 1, maxTokens: 12, stop: [], endpoint: 'completions' }, seed: s, providerModel: null, requestId: null, latencyMs: null, createdAt: new Date(0),
        });
      }
    }
    await writeShard(duck, dataDir, { corpus: 'power', kind: 'samples', partition: { model: 'toy', source }, unitId: 'u0' }, rows);
  }
}

before(async () => {
  temporal = await startTestTemporal();
  duck = await createDuckDB();
  await writeCorpus();
});
after(async () => {
  await temporal?.close();
  duck?.closeSync();
  rmSync(dataDir, { recursive: true, force: true });
});

async function runGrid(spec: PowerSpec, runId: string) {
  const taskQueue = uniqueName('power');
  const plan = cpuWorkerPlan({ dataDir, duck, taskQueue });
  const worker = await temporal.createWorker({ taskQueue, activities: plan.activities });
  return worker.runUntil(temporal.client.workflow.execute(powerSimulation, { taskQueue, workflowId: uniqueName('power'), args: [{ spec, runId }] }));
}

test('power rises with n for a degraded source, the null cell stays within [0, 0.1], reruns reproduce cells', { timeout: 180_000 }, async () => {
  const spec = PowerSpec.parse({
    corpus: 'power',
    reference: { model: 'toy', source: 'reference' },
    alternatives: [{ model: 'toy', source: 'weak' }, { model: 'toy', source: 'strong' }],
    samplesPerPrompt: [2, 8],
    promptSubsets: { size: 8, draws: 1 },
    sims: 50,
    b: 200,
    L: 120,
    seed: 3,
  });
  const cells = await runGrid(spec, 'grid1');
  const by = Object.fromEntries(cells.map((c) => [c.cellId, c]));
  const strong2 = by['mmd_hamming-toy.strong-n2-d0'].power;
  const strong8 = by['mmd_hamming-toy.strong-n8-d0'].power;
  assert.ok(strong8 > strong2 && strong8 >= 0.8, `strong: ${strong2} -> ${strong8}`);
  for (const n of [2, 8]) {
    const p = by[`mmd_hamming-toy.reference-n${n}-d0`].power;
    assert.ok(p >= 0 && p <= 0.1, `null cell at n = ${n}: ${p}`);
  }

  // Resume after a partial loss: drop half the cell shards and run again; every cell is identical.
  const dir = kindDir(dataDir, 'power', 'power');
  readdirSync(dir).filter((f) => f.endsWith('.parquet')).slice(0, 3).forEach((f) => rmSync(join(dir, f)));
  const again = await runGrid(spec, 'grid1');
  assert.ok(again.some((c) => !c.skipped) && again.some((c) => c.skipped));
  assert.deepEqual(again.map((c) => [c.cellId, c.rejections]), cells.map((c) => [c.cellId, c.rejections]));

  const section = await powerSection(duck, dataDir, { spec, runId: 'grid1' });
  assert.equal(section.cells.length, 6);
});
