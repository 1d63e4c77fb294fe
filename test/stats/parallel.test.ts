import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPowerSimulator, simulateNullsParallel, twoSampleTest, twoSampleTestParallel } from '../../stats';
import { Rng } from '../../stats/rng';
import { markovText, toyModel } from './data';

// minWork 0 forces the worker path on small inputs: the numbers must not depend on the thread count.
const forced = { threads: 2, minWork: 0 };

test('worker threads give the same statistic, nulls and p-value as one thread (permutation and bootstrap)', async () => {
  const rng = new Rng(21);
  const x = markovText(rng, 4, 9, 40, 0.4);
  const y = markovText(rng, 4, 8, 40, 0.6);
  const reference = markovText(rng, 4, 15, 40, 0.5);
  for (const stat of ['mmd_hamming', 'mmd_kspectrum', 'mmd_all_subsequences'] as const) {
    for (const pvalue of ['permutation', 'bootstrap'] as const) {
      const input = { x, y, stat, pvalue, b: 64, seed: 5, reference };
      const one = twoSampleTest(input);
      const two = await twoSampleTestParallel(input, forced);
      assert.equal(two.statistic, one.statistic, `${stat} ${pvalue}`);
      assert.deepEqual(two.nulls, one.nulls, `${stat} ${pvalue}`);
      assert.equal(two.pvalue, one.pvalue);
      assert.equal(two.n1, one.n1);
    }
  }
});

test('power: Gram blocks and null batches built by workers equal the single-thread ones', async () => {
  const rng = new Rng(22);
  const reference = toyModel(rng, 4, 30);
  const alternative = toyModel(rng, 4, 30, 0.2);
  const plain = await createPowerSimulator('mmd_hamming', { references: [reference], alternatives: [alternative] }, { threads: 1 });
  const shared = await createPowerSimulator('mmd_hamming', { references: [reference], alternatives: [alternative] }, forced);
  const request = { n: 40, b: 50, seed: 3 };
  const nulls = plain.nulls(request);
  assert.deepEqual(await simulateNullsParallel(shared, request, forced), nulls);
  assert.deepEqual(
    shared.cell({ alternative: 0, n: 40, sims: 20, alpha: 0.05, seed: 4, nulls }),
    plain.cell({ alternative: 0, n: 40, sims: 20, alpha: 0.05, seed: 4, nulls }),
  );
});

test('the parallel path reports the same errors (a prompt the reference lacks)', async () => {
  const rng = new Rng(23);
  const x = toyModel(rng, 3, 4);
  await assert.rejects(
    twoSampleTestParallel({ x, y: x, stat: 'mmd_hamming', pvalue: 'bootstrap', b: 10, seed: 1, reference: toyModel(rng, 2, 4) }, forced),
    /no completion for prompt 2/,
  );
});

test('workers start when tsx was registered from code (as bin/met.js does), not through execArgv', async () => {
  const { spawnSync } = await import('node:child_process');
  const { PROJECT_ROOT } = await import('../../temporal/binary');
  const script = `
    import { register } from 'tsx/esm/api';
    register();
    const { twoSampleTest, twoSampleTestParallel, Rng } = await import('./stats/index.ts');
    const { markovText } = await import('./test/stats/data.ts');
    const rng = new Rng(5);
    const input = { x: markovText(rng, 3, 6, 30), y: markovText(rng, 3, 6, 30, 0.6), stat: 'mmd_hamming', pvalue: 'permutation', b: 40, seed: 2 };
    const two = await twoSampleTestParallel(input, { threads: 2, minWork: 0 });
    const one = twoSampleTest(input);
    console.log(JSON.stringify({ same: JSON.stringify(Array.from(two.nulls)) === JSON.stringify(Array.from(one.nulls)), execArgv: process.execArgv }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.equal(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout.trim().split('\n').pop()!);
  assert.ok(!out.execArgv.some((a: string) => /^--(import|loader|require)|^tsx$/.test(a)), 'the child has no loader in its execArgv');
  assert.equal(out.same, true);
});

test('workers get the module-loading options only: no -e CODE, no per-process or V8 options (Node 24 test runner children carry them)', async () => {
  const { workerExecArgv } = await import('../../stats/parallel');
  const parent = [
    '--stack-trace-limit=10',
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    'code',
    '--secure-heap=0',
    '--enable-source-maps',
    '--conditions=dev',
    '--v8-pool-size=4',
    '--experimental-strip-types',
  ];
  assert.deepEqual(workerExecArgv(parent), ['--import', 'tsx', '--enable-source-maps', '--conditions=dev', '--experimental-strip-types']);
});
