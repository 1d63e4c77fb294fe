/**
 * A local slice is sampled by one route (issue 26): met's batched generator draws other tokens for
 * the same seeds than node-llama-cpp's one-sequence loop (docs/decoding.md), so a slice grown by a
 * model worker with another `--parallel` would mix two sets of draws under one label. The unit is
 * refused before any sample is drawn, naming both routes; the same route grows the slice. The real
 * tiny model, the collection and sampling activities (MockActivityEnvironment).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createCollectActivities, type PreparedRun } from '../../activities/collect';
import { createSamplingActivities, type UnitResult } from '../../activities/sampling';
import { planSources } from '../../collect/plan';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { CorpusStore } from '../../datasets/corpusStore';
import { createDuckDB, quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { LocalGenerator } from '../../models/localGenerator';
import { writeTinyModels } from '../../models/tiny';

const dataDir = mkdtempSync(join(tmpdir(), 'met-slice-route-'));
let duck: DuckDBInstance;
let oneAtATime: LlamaBackend;
let batched: LlamaBackend;

before(async () => {
  duck = await createDuckDB();
  const paths = writeTinyModels(join(dataDir, 'models'));
  oneAtATime = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model: 'tiny' });
  batched = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model: 'tiny', parallel: 2 });
});
after(async () => {
  await oneAtATime?.close();
  await batched?.close();
  duck?.closeSync();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * Collects `perPrompt` samples per prompt into the slice tiny/fp32 of `corpus` with the given
 * worker's model; its units one after another, or all at once on the worker (`together`), as a
 * model worker running several units shares its batched generator's slots between them.
 */
async function collect(perPrompt: number, backend: LlamaBackend, { corpus = 'route', unitSize = 500, together = false } = {}) {
  const spec = parseRunSpec({
    corpus,
    prompts: {
      inline: [
        { id: 'a', text: 'The cat' },
        { id: 'b', text: 'Once' },
      ],
    },
    samplesPerPrompt: perPrompt,
    sampling: { maxTokens: 6 },
    sources: [{ kind: 'local', model: 'tiny', precision: 'fp32' }],
    unitSize,
  });
  const runId = runIdOf(spec);
  const prepared: PreparedRun = await new MockActivityEnvironment().run(createCollectActivities({ duck, dataDir }).prepareRun, { spec, runId });
  const sampling = createSamplingActivities({ store: new CorpusStore(duck, dataDir), generatorFor: () => new LocalGenerator(backend, () => undefined) });
  const sampleUnit = (unit: ReturnType<typeof planSources>[number]['units'][number]): Promise<UnitResult> =>
    new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000 }).run(sampling.sampleUnit, {
      corpus: spec.corpus,
      runId,
      promptSet: prepared.promptSet,
      promptsFile: prepared.promptsFile,
      samplesPerPrompt: perPrompt,
      sampling: spec.sampling,
      source: spec.sources[0],
      unit,
    });
  const units = planSources(spec, runId, prepared.promptCount, prepared.firstSampleIndex)[0].units;
  const results: UnitResult[] = [];
  if (together) results.push(...(await Promise.all(units.map(sampleUnit))));
  else for (const unit of units) results.push(await sampleUnit(unit));
  return results.reduce((n, r) => n + r.rows, 0);
}

/** The slice's sample keys, in order; with `tokens`, each key with its completion's token ids. */
async function keys(corpus = 'route', { tokens = false } = {}): Promise<string[]> {
  return withConnection(duck, async (c) => {
    const r = await c.runAndReadAll(
      `SELECT prompt_id || '#' || sample_index ${tokens ? "|| ' ' || list_aggregate(token_ids, 'string_agg', ',')" : ''} FROM read_parquet(${quotedString(join(kindDir(dataDir, corpus, 'samples'), '*', '*', 'part-*.parquet'))}) ORDER BY 1`,
    );
    return r.getRows().map(([k]) => String(k));
  });
}

test('a local slice grows only under the route that sampled it: another --parallel is refused before any sample, the same one adds the missing keys', async () => {
  assert.equal(await collect(3, oneAtATime), 6);
  assert.notEqual(batched.samplerEngine, oneAtATime.samplerEngine);

  const shardDir = join(kindDir(dataDir, 'route', 'samples'), 'model=tiny', 'source=fp32');
  const filesBefore = readdirSync(shardDir).sort();
  await assert.rejects(collect(5, batched), (err: Error) => {
    assert.match(err.message, /slice route:tiny\/fp32 was sampled by another route than this model worker's/);
    assert.ok(err.message.includes(`'${oneAtATime.samplerEngine}' in the slice`), err.message);
    assert.ok(err.message.includes(`'${batched.samplerEngine}' on this worker`), err.message);
    assert.match(err.message, /Nothing was sampled for unit .*--parallel as recorded.*or collect under a new source label/);
    return true;
  });
  // Nothing written: no shard, no journal line.
  assert.deepEqual(
    readdirSync(shardDir)
      .filter((f) => !f.startsWith('.journal-'))
      .sort(),
    filesBefore.filter((f) => !f.startsWith('.journal-')),
  );
  for (const journal of readdirSync(shardDir).filter((f) => f.startsWith('.journal-')))
    assert.equal(statSync(join(shardDir, journal)).size, 0, `${journal} is empty`);
  assert.equal((await keys()).length, 6);

  assert.equal(await collect(5, oneAtATime), 4, 'the same route draws only the 4 missing keys');
  assert.deepEqual(await keys(), ['a#0', 'a#1', 'a#2', 'a#3', 'a#4', 'b#0', 'b#1', 'b#2', 'b#3', 'b#4']);
});

test('units sampled at once on one batched worker share its slots and draw exactly what they draw one after another', async () => {
  // 2 prompts x 6 samples in units of 2: six units, their requests queued together in the generator's two slots.
  assert.equal(await collect(6, batched, { corpus: 'apart', unitSize: 2 }), 12);
  assert.equal(await collect(6, batched, { corpus: 'together', unitSize: 2, together: true }), 12);
  const apart = await keys('apart', { tokens: true });
  assert.equal(apart.length, 12);
  assert.ok(
    apart.every((k) => /^[ab]#\d+ \d+(,\d+)*$/.test(k)),
    apart.join('\n'),
  );
  assert.deepEqual(await keys('together', { tokens: true }), apart);
});
