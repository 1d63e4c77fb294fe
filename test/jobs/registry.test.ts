import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { listRunRecords, loadRunRecord, newRunRecord, saveRunRecord } from '../../client/runs';
import { queuesOfRuns } from '../../client/fleet';
import { hasReport, JOB_NAMES, JOBS, queuesOf, RunRecord, toStages } from '../../jobs';
import { parseConsistencySpec, planConsistency } from '../../config/consistencySpec';
import { parseRunSpec } from '../../config/runSpec';
import { TestSpec } from '../../config/testSpec';
import { CATALOG } from '../../download/catalog';
import * as workflows from '../../workflows';
import { collectionRecord, powerRecord } from '../helpers/records';

/** Issue #31: one typed model of a job. */
test('every kind of job in the registry is a workflow that workers register, under its own name', () => {
  for (const name of JOB_NAMES) {
    assert.equal(JOBS[name].name, name);
    assert.equal(typeof (workflows as Record<string, unknown>)[name], 'function', `${name} is exported by workflows/index.ts`);
  }
  assert.deepEqual(JOB_NAMES.filter(hasReport).sort(), ['consistencyReport', 'powerSimulation', 'runTest']);
});

test("a run record round-trips through its kind's schema; a record whose input is not what its workflow takes is unreadable", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'met-jobs-'));
  const record = collectionRecord('c1', 'corp');
  assert.equal(record.corpus, 'corp', "the corpus is the kind's to say");
  await saveRunRecord(dir, record);
  assert.deepEqual(await loadRunRecord(dir, 'c1'), RunRecord.parse(JSON.parse(JSON.stringify(record))));
  // The input of another kind under this job's name: refused, not started with the wrong arguments.
  const path = join(dir, 'runs', 'c1.json');
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), input: powerRecord('c1').input }));
  await assert.rejects(loadRunRecord(dir, 'c1'), /the record of run 'c1' is unreadable/);
  writeFileSync(path, JSON.stringify({ ...record, job: 'noSuchJob' }));
  assert.deepEqual(await listRunRecords(dir), []);
});

test("the queues a run needs come from its kind: a collection's sources, a scorer's model", () => {
  const spec = parseRunSpec({
    corpus: 'c',
    prompts: { inline: [{ id: 'p', text: 't' }] },
    samplesPerPrompt: 1,
    sources: [
      { kind: 'provider', provider: 'acme', model: 'm' },
      { kind: 'local', model: 'tiny', precision: 'nf4' },
    ],
  });
  const collection = newRunRecord({ job: 'collectCorpus', input: { spec, runId: 'r' } }, 'r');
  const scoring = newRunRecord({ job: 'scoreCorpus', input: { corpus: 'c', scorer: { model: 'tiny', precision: 'fp32' } } }, 's', { taskQueue: 'other-cpu' });
  assert.deepEqual(queuesOf(collection), ['met-provider-acme', 'met-model-tiny-nf4']);
  assert.deepEqual(queuesOf(scoring), ['met-model-tiny-fp32']);
  const fleet = queuesOfRuns([collection, scoring]);
  assert.deepEqual(fleet.workflow, ['met-cpu', 'other-cpu']);
  assert.deepEqual(fleet.activity, ['met-cpu', 'met-model-tiny-fp32', 'met-model-tiny-nf4', 'met-provider-acme', 'other-cpu']);
});

test('progress answers read as stages by kind; an answer of the wrong shape shows none', () => {
  const inUnits = new Map([['m/a', { samples: 5, tokens: 50, units: 1 }]]);
  const collecting = { sources: [{ model: 'm', source: 'a', taskQueue: 'q', done: 10, total: 100, errors: { '429': 2 }, samplesPerSecond: 1 }] };
  assert.deepEqual(toStages('collectCorpus', collecting, inUnits).stages, [{ name: 'm/a', done: 15, total: 100, errors: { '429': 2 }, unit: 'samples' }]);
  assert.deepEqual(toStages('scoreCorpus', { shardsDone: 2, shardsTotal: 4, rowsDone: 9, tokens: 90 }).stages, [
    { name: 'scored shards', done: 2, total: 4, unit: 'shards' },
  ]);
  assert.deepEqual(toStages('powerSimulation', { stages: [{ name: 'power cells', done: 1, total: 3, unit: 'cells' }] }).stages, [
    { name: 'power cells', done: 1, total: 3, unit: 'cells' },
  ]);
  assert.deepEqual(toStages('scoreCorpus', { stages: [] }).stages, []);
  assert.deepEqual(toStages('collectCorpus', { sources: 'many' }).stages, []);
  assert.deepEqual(JOBS.collectCorpus.budget?.(undefined, { budget: { usd: 1, spentUsd: 1, reached: true } }), { usd: 1, spentUsd: 1, reached: true });
});

test('a record of every kind met records reads back as it was written (what met status and met resume load)', () => {
  const plan = planConsistency(
    parseConsistencySpec({
      a: { kind: 'local', model: 'm', precision: 'fp32' },
      b: { kind: 'provider', provider: 'p', model: 'm' },
      prompts: { set: 'demo', limit: 2 },
      scorer: 'm/fp32',
      embed: { kind: 'endpoint', baseURL: 'http://127.0.0.1:9/v1', model: 'e' },
    }),
  );
  const testSpec = TestSpec.parse({ testId: 't', x: { corpus: 'c', model: 'm', source: 'a' }, y: { corpus: 'c', model: 'm', source: 'b' } });
  const records = [
    collectionRecord('c1'),
    powerRecord('g1'),
    newRunRecord({ job: 'consistencyReport', input: plan }, plan.id),
    newRunRecord({ job: 'runTest', input: testSpec }, 't'),
    newRunRecord({ job: 'scoreCorpus', input: { corpus: 'c', scorer: { model: 'm', precision: 'fp32' }, window: 2, heartbeatTimeout: '30s' } }, 's'),
    newRunRecord({ job: 'downloadDataset', input: { entry: CATALOG[0], dir: '/d' } }, 'd'),
  ];
  for (const record of records) assert.deepEqual(RunRecord.parse(JSON.parse(JSON.stringify(record))), JSON.parse(JSON.stringify(record)), record.job);
  assert.equal(
    RunRecord.safeParse({ ...records[4], input: { ...records[4].input, heartbeatTimeout: 'soon' } }).success,
    false,
    'a duration Temporal cannot read',
  );
});
