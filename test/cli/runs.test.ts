import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { buildApi } from '../../api/server';
import { freePort } from '../../temporal/devServer';
import { writePowerCorpus } from '../power/fixture';
import { exited, spawnMet } from '../helpers/processes';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

/**
 * Runs explain themselves: a failed `met test` prints its root cause, and so do `met status` and
 * GET /v1/runs/:id; `met runs` and `met status` read the run registry without Temporal.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const taskQueue = uniqueName('cli-runs');
const dataDir = useTestEnv('met-cli-runs-', (env) => ({ temporal, duck } = env), { cpuWorkerQueue: taskQueue });
let runId = '';

async function met(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | string; output: string; ms: number }> {
  const t0 = performance.now();
  const child = spawnMet([...args, '--data', dataDir], env);
  const code = await exited(child);
  return { code, output: child.output(), ms: performance.now() - t0 };
}
const live = () => ['--address', temporal.address, '--namespace', temporal.namespace];

test('a failed met test prints its root cause, and met status and GET /v1/runs/:id say it too', async () => {
  const corpus = uniqueName('empty');
  // Slices that exist but hold no shard: met test starts the run, which fails for want of samples.
  for (const source of ['a', 'b']) mkdirSync(join(dataDir, 'corpus', corpus, 'samples', 'model=m', `source=${source}`), { recursive: true });
  const r = await met(['test', '--x', `${corpus}:m/a`, '--y', `${corpus}:m/b`, '--b', '10', '--queue', taskQueue, ...live()]);
  assert.equal(r.code, 1, r.output);
  runId = /Started test run (\S+)/.exec(r.output)?.[1] ?? '';
  assert.ok(runId, r.output);
  assert.match(r.output, new RegExp(`met: test run ${runId} failed: MetTooFewSamples: corpus '${corpus}' has no samples for models m`));
  assert.doesNotMatch(r.output, /Workflow execution failed/);

  const status = await met(['status', runId, ...live()]);
  assert.equal(status.code, 0, status.output);
  assert.match(status.output, new RegExp(`^${runId}  runTest  FAILED$`, 'm'));
  assert.match(status.output, /^ {2}failed: MetTooFewSamples: corpus '.*' has no samples for/m);
  const json = JSON.parse((await met(['status', runId, '--json', ...live()])).output);
  assert.equal(json.status, 'FAILED');
  assert.equal(json.temporal.reachable, true);
  assert.match(json.failure, /^MetTooFewSamples: corpus '.*' has no samples for/);

  const api = await buildApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, taskQueue });
  try {
    const body = (await api.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: { host: '127.0.0.1' } })).json();
    assert.equal(body.status, 'FAILED');
    assert.match(body.failure, /^MetTooFewSamples: corpus '.*' has no samples for/);
  } finally {
    await api.close();
  }

  const runs = await met(['runs', ...live()]);
  assert.equal(runs.code, 0, runs.output);
  assert.match(runs.output, /^run +job +status +corpus +created$/m);
  assert.match(runs.output, new RegExp(`^${runId} +runTest +FAILED +${corpus} +\\d{4}-`, 'm'));
});

test('met status and met runs answer from the registry when Temporal is down, without waiting for a connect timeout', async () => {
  assert.ok(runId, 'needs the run of the test above');
  const down = ['--address', `127.0.0.1:${await freePort()}`];
  // Against a baseline in the same conditions: the same command, modules and record with Temporal up
  // (a loaded machine slows both alike; `met --version` loads far less, and was once 4 s apart under load).
  const start = (await met(['status', runId, ...live()])).ms;
  // A connect that waited for its 5 s timeout (or retried) would show; process start-up noise would not.
  const slack = 3000;
  const status = await met(['status', runId, ...down]);
  assert.equal(status.code, 0, status.output);
  assert.match(status.output, new RegExp(`^${runId}  runTest  status unknown$`, 'm'));
  assert.match(
    status.output,
    /Temporal at 127\.0\.0\.1:\d+ \(from --address\) is not reachable \(met server start, or met up\): this is the run's record only/,
  );
  assert.ok(status.ms < start + slack, `met status took ${status.ms.toFixed(0)} ms with Temporal down (${start.toFixed(0)} ms with it up)`);
  const json = JSON.parse((await met(['status', runId, '--json', ...down])).output);
  assert.deepEqual([json.status, json.temporal.reachable, json.job], [null, false, 'runTest']);

  const runs = await met(['runs', ...down]);
  assert.equal(runs.code, 0, runs.output);
  assert.match(runs.output, new RegExp(`^${runId} +runTest +\\? +`, 'm'));
  assert.match(runs.output, /status \?: Temporal at 127\.0\.0\.1:\d+, from --address, is not reachable/);
  assert.ok(runs.ms < start + slack, `met runs took ${runs.ms.toFixed(0)} ms with Temporal down (met status with it up: ${start.toFixed(0)} ms)`);
});

test('met test prints the verdict word, the p-value format, and the command that reproduces it', async () => {
  const corpus = uniqueName('two');
  await writePowerCorpus(
    duck,
    dataDir,
    corpus,
    [
      ['ref', 0],
      ['alt', 4],
    ],
    { prompts: 4, perPrompt: 12 },
  );
  const args = ['test', '--x', `${corpus}:toy/ref`, '--y', `${corpus}:toy/alt@6`, '--b', '50', '--L', '12', '--seed', '3', '--queue', taskQueue, ...live()];
  const r = await met([...args, '--json']);
  const out = JSON.parse(r.output.slice(r.output.indexOf('{')));
  // A CI job gates on the exit code: 0 consistent, 3 differs.
  assert.equal(r.code, out.reject ? 3 : 0, r.output);
  assert.equal(out.verdict, 'differs', 'alt is shifted by 4: the fixture is built to differ');
  assert.match(r.output, /^Started test run \S+$/m, 'the run id, on stderr beside the JSON');
  assert.equal(out.verdict, out.reject ? 'differs' : 'consistent');
  if (out.pvalue === 0) assert.equal(out.p, 'p < 0.02 (b = 50)');
  else assert.equal(out.p, `p = ${out.pvalue.toPrecision(3)}`);
  assert.deepEqual(out.settings, { statistic: 'mmd_hamming', pvalue: 'permutation', b: 50, seed: 3, L: 12, unit: 'char', 'n per prompt (x/y)': 'all/6' });
  assert.equal(
    out.reproduce,
    `met test --x ${corpus}:toy/ref --y ${corpus}:toy/alt@6 --stat mmd_hamming --pvalue permutation --b 50 --alpha 0.05 --seed 3 --L 12 --unit char`,
  );

  // The printed command, run again, is the same test: attached to (or repeating) the same result.
  const again = await met(['test', ...out.reproduce.split(' ').slice(2), '--queue', taskQueue, ...live()]);
  assert.equal(again.code, 3, again.output);
  assert.match(again.output, new RegExp(`^${out.verdict} at α = 0\\.05: ${out.p.replace(/[().]/g, '\\$&')}`, 'm'));
  assert.match(again.output, /^settings: statistic mmd_hamming, pvalue permutation, b 50, seed 3, L 12, unit char, n per prompt \(x\/y\) all\/6$/m);
  assert.match(again.output, /^reproduce: met test --x /m);
});

test('an impossible power grid fails at once with its reason, which met power --wait prints', async () => {
  const corpus = uniqueName('few');
  await writePowerCorpus(
    duck,
    dataDir,
    corpus,
    [
      ['ref', 0],
      ['alt', 1],
    ],
    { prompts: 4, perPrompt: 6 },
  );
  const grid = join(dataDir, `${corpus}.json`);
  writeFileSync(
    grid,
    JSON.stringify({
      corpus,
      reference: { model: 'toy', source: 'ref' },
      alternatives: [{ model: 'toy', source: 'alt' }],
      samplesPerPrompt: [2],
      promptSubsets: { size: 25 },
      sims: 5,
      b: 20,
      L: 12,
    }),
  );
  const r = await met(['power', grid, '--wait', '--queue', taskQueue, ...live()]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /^Run \S+ failed: MetBadRunSpec: promptSubsets\.size 25 is larger than the 4 prompts of the reference: lower it$/m);
  assert.ok(r.ms < 20_000, `failed after ${r.ms.toFixed(0)} ms: not retried`);
});

test('met test and met collect refuse unknown names before a run starts, listing what exists', async () => {
  const corpus = uniqueName('named');
  await writePowerCorpus(duck, dataDir, corpus, [['ref', 0]], { prompts: 2, perPrompt: 2 });
  const noCorpus = await met(['test', '--x', 'nope:toy/ref', '--y', 'nope:toy/alt', ...live()]);
  assert.equal(noCorpus.code, 1, noCorpus.output);
  assert.match(noCorpus.output, new RegExp(`^met: no corpus named 'nope' in ${dataDir}: corpora here: .*${corpus}`, 'm'));
  assert.doesNotMatch(noCorpus.output, /Started test run/);
  const noSlice = await met(['test', '--x', `${corpus}:toy/ref`, '--y', `${corpus}:toy/alt`, ...live()]);
  assert.match(noSlice.output, new RegExp(`^met: corpus '${corpus}' has no slice toy/alt: its slices \\(model/source\\) are toy/ref$`, 'm'));
  const spec = join(dataDir, 'unknown-set.yaml');
  writeFileSync(spec, 'corpus: x\nprompts: { set: nosuchset }\nsamplesPerPrompt: 2\nsources:\n  - { kind: provider, provider: p, model: m }\n');
  const noSet = await met(['collect', spec, ...live()]);
  assert.equal(noSet.code, 1, noSet.output);
  assert.match(noSet.output, /^met: no prompt set named 'nosuchset': shipped: demo; in .*prompts: none\. /m);
  assert.doesNotMatch(noSet.output, /Started run/);
});

test("met audit create refuses identify candidates that are not slices of the audit's corpus, naming them and what to do; with them there it creates the audit", async () => {
  const corpus = uniqueName('cands');
  await writePowerCorpus(duck, dataDir, corpus, [['f32', 0]], { prompts: 2, perPrompt: 2 });
  const name = uniqueName('idaudit');
  const spec = (candidates: string[]) => {
    const file = join(dataDir, `${name}-${candidates.length}-${candidates.join('_').replace(/\W/g, '')}.yaml`);
    writeFileSync(
      file,
      [
        `name: ${name}`,
        `corpus: ${corpus}`,
        `reference: { kind: corpus, corpus: ${corpus}, model: toy, source: f32 }`,
        'endpoints: [{ kind: provider, provider: p, model: toy }]',
        'prompts: { set: demo, limit: 2 }',
        'samplesPerPrompt: 2',
        `identify: { candidates: [${candidates.map((c) => `{ model: toy, source: ${c} }`).join(', ')}] }`,
        'schedule: { interval: 6h }',
        '',
      ].join('\n'),
    );
    return file;
  };
  const create = (file: string) => met(['audit', 'create', file, '--paused', '--queue', taskQueue, ...live()]);
  // One candidate missing: named, with the corpus's slices and both ways to fix it; no schedule made.
  const one = await create(spec(['f32', 'nf4']));
  assert.equal(one.code, 1, one.output);
  assert.match(
    one.output,
    new RegExp(
      `^met: audit ${name}: identify candidate toy/nf4 is not a slice of corpus '${corpus}' \\(its slices \\(model/source\\) are toy/f32\\)\\. ` +
        `Collect it into corpus ${corpus} first \\(met collect SPEC, with that model and source\\), or fix the candidate's model/source in the spec; ` +
        `otherwise identify would fail at the firing that turns a verdict to differs$`,
      'm',
    ),
  );
  assert.doesNotMatch(one.output, /Created audit/);
  // Two missing: both named.
  const two = await create(spec(['int8', 'nf4']));
  assert.equal(two.code, 1, two.output);
  assert.match(
    two.output,
    new RegExp(`^met: audit ${name}: identify candidates toy/int8, toy/nf4 are not slices of corpus '${corpus}'.*Collect each into corpus`, 'm'),
  );
  const shown = await met(['audit', 'show', name, ...live()]);
  assert.notEqual(shown.code, 0);
  assert.match(shown.output, /no audit/);
  // Once the candidate is collected, the same spec is created.
  await writePowerCorpus(duck, dataDir, corpus, [['nf4', 0.3]], { prompts: 2, perPrompt: 2 });
  const made = await create(spec(['f32', 'nf4']));
  assert.equal(made.code, 0, made.output);
  assert.match(made.output, new RegExp(`^Created audit ${name} \\(schedule audit-${name}, every 6h, paused\\)`, 'm'));
  const deleted = await met(['audit', 'delete', name, ...live()]);
  assert.equal(deleted.code, 0, deleted.output);
});
