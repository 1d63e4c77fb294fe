/**
 * met identify: which model is the endpoint really serving? On a corpus of three candidate "precisions"
 * of met's text stand-in (skews 0, 0.6 and 1.5; at 0.3 MMD-Hamming could not tell int8 from F32 with 30 samples per prompt, and identify said so) and two endpoints drawn with their own seeds, one from
 * skew 0 and one from skew 1.5: each endpoint's own candidate is the only one not rejected, Holm-corrected.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { useTestEnv } from '../helpers/env';
import { exited, spawnMet } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { writePowerCorpus } from '../power/fixture';

let temporal: TestTemporal;
let duck: DuckDBInstance;
const taskQueue = uniqueName('identify-cpu');
const corpus = 'identify';
const dataDir = useTestEnv('met-identify-', (env) => ({ temporal, duck } = env), {
  cpuWorkerQueue: taskQueue,
  setUp: async () => {
    await writePowerCorpus(
      duck,
      dataDir,
      corpus,
      [
        ['fp32', 0],
        ['int8', 0.6],
        ['nf4', 1.5],
        ['endpoint-a', 0],
        ['endpoint-b', 1.5],
      ],
      { prompts: 8, perPrompt: 40 },
    );
  },
});

async function identify(
  y: string,
  extra: string[] = [],
): Promise<{
  code: number | string;
  out: string;
  json: { candidates: { candidate: string; adjusted: number; rejected: boolean }[]; notRejected: string[]; reportPath?: string };
}> {
  const child = spawnMet([
    'identify',
    '--y',
    `${corpus}:toy/${y}`,
    '--candidates',
    'toy/fp32,toy/int8,toy/nf4',
    '--b',
    '300',
    '--L',
    '120',
    '--queue',
    taskQueue,
    '--json',
    '--address',
    temporal.address,
    '--namespace',
    temporal.namespace,
    '--data',
    dataDir,
    ...extra,
  ]);
  const code = await exited(child);
  const out = child.output();
  return { code, out, json: JSON.parse(out.slice(out.indexOf('{'))) };
}

test('met identify names the candidate each endpoint serves: F32 for endpoint-a, Q4_0 (nf4) for endpoint-b', { timeout: 180_000 }, async () => {
  const a = await identify('endpoint-a');
  assert.equal(a.code, 0, a.out);
  assert.deepEqual(a.json.notRejected, ['toy/fp32'], a.out);
  const b = await identify('endpoint-b');
  assert.equal(b.code, 0, b.out);
  assert.deepEqual(b.json.notRejected, ['toy/nf4'], b.out);
  for (const c of b.json.candidates) assert.equal(c.rejected, c.adjusted <= 0.05);
  // --html: the same answer as a page (the tests attach to the runs above).
  const page = await identify('endpoint-b', ['--html']);
  assert.deepEqual(page.json.notRejected, ['toy/nf4']);
  const html = readFileSync(page.json.reportPath!, 'utf8');
  assert.match(html, /Not rejected: <strong>toy\/nf4<\/strong>/);
  assert.equal((html.match(/badge differs">rejected/g) ?? []).length, 2);
});
