import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { Worker } from '@temporalio/worker';
import { exportFormat } from '../../cli/corpus';
import { PROJECT_ROOT } from '../../temporal/binary';
import { cpuWorkerPlan } from '../../workers/cpu';
import { exited, spawnMet } from '../helpers/processes';
import { writePowerCorpus } from '../power/fixture';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

/** The small things a CLI user expects: --version, --json wherever a table prints, headers, inferred formats, one launch wording. */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-cli-flags-', (env) => ({ temporal, duck } = env));

async function met(args: string[]): Promise<{ code: number | string; output: string; stdout: string }> {
  const child = spawnMet([...args, '--data', dataDir]);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  const code = await exited(child);
  return { code, output: child.output(), stdout };
}
const live = () => ['--address', temporal.address, '--namespace', temporal.namespace];

test("met --version prints met's version and the Node it runs on", async () => {
  const child = spawnMet(['--version']);
  assert.equal(await exited(child), 0);
  const { version } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'));
  assert.equal(child.output().trim(), `met ${version} (Node ${process.version})`);
});

test('met serve refuses a bad fault flag naming the flag, before it loads a model', async () => {
  // `met serve` takes no --data (the met() helper adds it): spawned as a user types it.
  const serve = async (args: string[]) => {
    const child = spawnMet(['serve', '--port', '0', ...args]);
    return { code: await exited(child), output: child.output() };
  };
  const r = await serve(['--inflate-completion-tokens', '-1']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /--inflate-completion-tokens -1: must be >=0/);
  assert.doesNotMatch(r.output, /inflateCompletionTokens/);
  assert.match((await serve(['--fail-429', '2'])).output, /--fail-429 2: must be <=1/);
});

test('met datasets list has a header, and --json', async () => {
  const r = await met(['datasets', 'list']);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /^name +state +description$/m);
  assert.match(r.output, /^met-release +remote +The MET release/m);
  const rows = JSON.parse((await met(['datasets', 'list', '--json'])).stdout);
  assert.deepEqual(rows[0], { name: 'met-release', state: 'remote', description: rows[0].description });
});

test('met corpus export takes its format from --out when --format is not given', () => {
  assert.equal(exportFormat(undefined, 'x/samples.jsonl'), 'jsonl');
  assert.equal(exportFormat(undefined, 'x/samples.JSONL'), 'jsonl');
  assert.equal(exportFormat(undefined, 'x/samples.parquet'), 'parquet');
  assert.equal(exportFormat(undefined, undefined), 'parquet');
  assert.equal(exportFormat('jsonl', undefined), 'jsonl');
  assert.throws(() => exportFormat('parquet', 'a.jsonl'), /--format parquet but --out ends in \.jsonl/);
  assert.throws(() => exportFormat('csv', undefined), /--format must be parquet or jsonl/);
});

test('met collect --json: the run on stdout, "Started run" then "Attached to run" on stderr', async () => {
  const queue = uniqueName('cli-flags-collect');
  const spec = join(dataDir, 'spec.json');
  writeFileSync(
    spec,
    JSON.stringify({
      corpus: uniqueName('c'),
      prompts: { inline: [{ id: 'p1', text: 'hello' }] },
      samplesPerPrompt: 1,
      sources: [{ kind: 'local', model: 'nobody', precision: 'fp32' }],
    }),
  );
  const first = await met(['collect', spec, '--json', '--queue', queue, ...live()]);
  assert.equal(first.code, 0, first.output);
  const run = JSON.parse(first.stdout);
  assert.equal(run.attached, false);
  assert.match(first.output, new RegExp(`^Started run ${run.runId} \\(workflow ${run.workflowId.replace('/', '\\/')}\\)$`, 'm'));
  const second = await met(['collect', spec, '--json', '--queue', queue, ...live()]);
  assert.equal(JSON.parse(second.stdout).attached, true);
  assert.match(second.output, new RegExp(`^Attached to run ${run.runId} \\(already running; workflow `, 'm'));
  await temporal.client.workflow.getHandle(run.workflowId).terminate('test done');
});

test('met power --wait --json prints the power table and the report path as JSON', async () => {
  const queue = uniqueName('cli-flags-power');
  const corpus = uniqueName('pc');
  await writePowerCorpus(
    duck,
    dataDir,
    corpus,
    [
      ['ref', 0],
      ['alt', 1.2],
    ],
    { prompts: 4, perPrompt: 12 },
  );
  const grid = join(dataDir, 'grid.json');
  writeFileSync(
    grid,
    JSON.stringify({
      corpus,
      reference: { model: 'toy', source: 'ref' },
      alternatives: [{ model: 'toy', source: 'alt' }],
      samplesPerPrompt: [2],
      promptSubsets: { size: 4 },
      sims: 5,
      b: 20,
      L: 12,
    }),
  );
  const worker: Worker = await temporal.createWorker({ taskQueue: queue, activities: cpuWorkerPlan({ dataDir, duck, taskQueue: queue }).activities });
  const r = await worker.runUntil(met(['power', grid, '--wait', '--json', '--queue', queue, ...live()]));
  assert.equal(r.code, 0, r.output);
  const out = JSON.parse(r.stdout);
  assert.equal(out.completed, true);
  assert.equal(out.attached, false);
  assert.match(out.report, /\.html$/);
  // The independent-pool control sits beside the nulls by default (docs/calibration.md).
  assert.deepEqual(
    out.table.rows.map((row: { label: string }) => row.label).sort(),
    ['independent-pool control (toy/ref split in halves)', 'toy/alt', 'toy/ref vs toy/ref (null)'].sort(),
  );
  assert.match(r.output, /^Started power run \S+$/m);
});
