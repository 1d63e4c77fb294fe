import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compactCorpus, corpusStats, exportCorpus, queryCorpus, recoverCompactions, verifyCorpus } from '../../datasets/corpus';
import { quotedString, withConnection } from '../../datasets/duck';
import { listShards, quarantineDir, shardDir } from '../../datasets/paths';
import type { SampleRow } from '../../datasets/schemas';
import { unitStatus, writeShard } from '../../datasets/shards';
import { syntheticSamples } from '../../datasets/synthetic';
import { exited, spawnMet } from '../helpers/processes';
import { tempData } from './helpers';

const CORPUS = 'corp';

async function writeUnits(ctx: Awaited<ReturnType<typeof tempData>>, corpus = CORPUS): Promise<SampleRow[]> {
  const all: SampleRow[] = [];
  let seed = 1;
  for (const model of ['a', 'b']) {
    for (const half of [0, 1, 2]) {
      const rows = syntheticSamples({
        corpus,
        unitId: `${model}-${half}`,
        model,
        source: 'fp16',
        prompts: 4,
        firstPrompt: half * 4,
        samplesPerPrompt: 5,
        seed: seed++,
        completionChars: 40,
        tokens: 10,
      });
      await writeShard(ctx.duck, ctx.root, { corpus, kind: 'samples', unitId: `${model}-${half}` }, rows);
      all.push(...rows);
    }
  }
  return all;
}

/** Order-independent fingerprint of every row (all columns) through DuckDB. */
async function fingerprint(ctx: Awaited<ReturnType<typeof tempData>>, corpus = CORPUS): Promise<unknown[]> {
  const r = await queryCorpus(ctx.duck, ctx.root, corpus, 'SELECT count(*), sum(hash(COLUMNS(*)) % 1000003) FROM samples');
  return r.rows[0];
}

describe('corpus verify, stats, compact, export', () => {
  let ctx: Awaited<ReturnType<typeof tempData>>;
  let rows: SampleRow[];
  before(async () => {
    ctx = await tempData();
    rows = await writeUnits(ctx);
  });
  after(() => ctx.cleanup());

  test('stats: rows per model/source, prompts, samples per prompt, no duplicates', async () => {
    const s = await corpusStats(ctx.duck, ctx.root, CORPUS);
    assert.deepEqual(s.rows, { samples: rows.length });
    assert.equal(s.units, 6);
    assert.deepEqual(
      s.samples.map((p) => [p.model, p.source, p.rows, p.prompts, p.minPerPrompt, p.maxPerPrompt, p.incompletePrompts]),
      [
        ['a', 'fp16', 60, 12, 5, 5, 0],
        ['b', 'fp16', 60, 12, 5, 5, 0],
      ],
    );
    assert.equal(s.duplicateKeys, 0);
  });

  test('verify passes a clean corpus', async () => {
    const r = await verifyCorpus(ctx.duck, ctx.root, CORPUS);
    assert.equal(r.ok, true, JSON.stringify(r.problems));
    assert.equal(r.shards, 6);
    assert.equal(r.rows, rows.length);
  });

  test('compact merges each partition into one shard with the same rows; units stay done; verify passes', async () => {
    const before = await fingerprint(ctx);
    const report = await compactCorpus(ctx.duck, ctx.root, CORPUS);
    assert.deepEqual(
      report.merged.map((m) => [m.partition.model, m.inputs, m.rows]),
      [
        ['a', 3, 60],
        ['b', 3, 60],
      ],
    );
    assert.equal(listShards(ctx.root, CORPUS, 'samples').length, 2);
    assert.deepEqual(await fingerprint(ctx), before);
    for (const model of ['a', 'b']) {
      for (const half of [0, 1, 2]) {
        const s = await unitStatus(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', partition: { model, source: 'fp16' }, unitId: `${model}-${half}` });
        assert.equal(s.state, 'valid');
        if (s.state === 'valid') assert.equal(s.rows, 20);
      }
    }
    assert.equal((await verifyCorpus(ctx.duck, ctx.root, CORPUS)).ok, true);
    // A retried write of a compacted unit is a no-op, not a duplicate.
    const retry = await writeShard(
      ctx.duck,
      ctx.root,
      { corpus: CORPUS, kind: 'samples', unitId: 'a-1' },
      rows.filter((r) => r.unitId === 'a-1'),
    );
    assert.equal(retry.alreadyDone, true);
    assert.match(retry.path, /part-compact-/);
    assert.equal(listShards(ctx.root, CORPUS, 'samples').length, 2);
    // A unit collected after compaction is compacted together with the earlier compacted shard.
    const late = syntheticSamples({ corpus: CORPUS, unitId: 'a-3', model: 'a', source: 'fp16', prompts: 4, firstPrompt: 12, samplesPerPrompt: 5, seed: 50 });
    await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'a-3' }, late);
    const again = await compactCorpus(ctx.duck, ctx.root, CORPUS);
    assert.deepEqual(
      again.merged.map((m) => [m.partition.model, m.inputs, m.rows]),
      [['a', 2, 80]],
    );
    assert.equal((await verifyCorpus(ctx.duck, ctx.root, CORPUS)).rows, rows.length + 20);
  });

  test('an interrupted compaction is finished or undone from its journal', async () => {
    const dir = shardDir(ctx.root, CORPUS, 'samples', { model: 'b', source: 'fp16' });
    const [merged] = readdirSync(dir).filter((n) => n.startsWith('part-compact-'));
    // Crash after the merged shard was renamed in, before its inputs were deleted.
    copyFileSync(join(dir, merged), join(dir, 'part-leftover.parquet'));
    writeFileSync(join(dir, '.compact-x.json'), JSON.stringify({ merged, inputs: ['part-leftover.parquet'] }));
    recoverCompactions(ctx.root, CORPUS);
    assert.deepEqual(readdirSync(dir).sort(), [merged]);
    // Crash before the rename: the journal names a merged shard that does not exist; inputs stay.
    writeFileSync(join(dir, '.compact-y.json'), JSON.stringify({ merged: 'part-compact-never.parquet', inputs: [merged] }));
    recoverCompactions(ctx.root, CORPUS);
    assert.deepEqual(readdirSync(dir).sort(), [merged]);
  });

  test('export writes every row with its partition columns, as Parquet or JSONL', async () => {
    const total = rows.length + 20;
    const pq = await exportCorpus(ctx.duck, ctx.root, CORPUS, { format: 'parquet', out: join(ctx.root, 'out', 'x.parquet') });
    assert.equal(pq.rows, total);
    const back = await withConnection(
      ctx.duck,
      async (c) => (await c.runAndReadAll(`SELECT count(*), count(DISTINCT model) FROM read_parquet(${quotedString(pq.path)})`)).getRows()[0],
    );
    assert.deepEqual(back, [BigInt(total), 2n]);
    const jl = await exportCorpus(ctx.duck, ctx.root, CORPUS, { format: 'jsonl', out: join(ctx.root, 'out', 'x.jsonl') });
    const lines = readFileSync(jl.path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, total);
    const one = lines.find((l) => l.model === 'a' && l.prompt_id === 'p0' && l.sample_index === 0);
    const src = rows.find((r) => r.model === 'a' && r.promptId === 'p0' && r.sampleIndex === 0)!;
    assert.equal(one.completion, src.completion);
    assert.deepEqual(one.token_ids, src.tokenIds);
  });
});

describe('verify finds planted corruption', () => {
  let ctx: Awaited<ReturnType<typeof tempData>>;
  before(async () => {
    ctx = await tempData();
    await writeUnits(ctx);
  });
  after(() => ctx.cleanup());

  test('truncated file, flipped bytes, a misplaced shard and duplicate keys are all reported; corrupt ones quarantined', async () => {
    const shards = listShards(ctx.root, CORPUS, 'samples');
    const [truncated, flipped, duplicated] = [shards[0].path, shards[1].path, shards[4].path];
    const t = readFileSync(truncated);
    writeFileSync(truncated, t.subarray(0, t.length - 100));
    const f = readFileSync(flipped);
    for (let i = 200; i < 260; i++) f[i] ^= 0xff; // inside the first column chunk's data
    writeFileSync(flipped, f);
    // The same rows again under another unit id: a duplicate of every key in that unit.
    const dupRows = syntheticSamples({
      corpus: CORPUS,
      unitId: 'b-dup',
      model: 'b',
      source: 'fp16',
      prompts: 4,
      firstPrompt: 0,
      samplesPerPrompt: 5,
      seed: 4,
      completionChars: 40,
      tokens: 10,
    });
    await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId: 'b-dup' }, dupRows);
    // A shard moved into another partition's folder.
    const wrongDir = shardDir(ctx.root, CORPUS, 'samples', { model: 'c', source: 'fp16' });
    mkdirSync(wrongDir, { recursive: true });
    const misplaced = join(wrongDir, 'part-b-2.parquet');
    renameSync(shards[5].path, misplaced);

    const r = await verifyCorpus(ctx.duck, ctx.root, CORPUS);
    assert.equal(r.ok, false);
    const byProblem = (p: string) => r.problems.filter((x) => x.problem === p);
    assert.deepEqual(
      byProblem('corrupt')
        .map((p) => p.path)
        .sort(),
      [truncated, flipped].sort(),
    );
    for (const p of byProblem('corrupt')) {
      assert.ok(p.quarantinedTo && existsSync(p.quarantinedTo) && p.quarantinedTo.startsWith(quarantineDir(ctx.root, CORPUS)));
      assert.equal(existsSync(p.path!), false);
    }
    assert.deepEqual(
      byProblem('misplaced').map((p) => p.path),
      [misplaced],
    );
    assert.match(byProblem('misplaced')[0].message, /model='b' but it is in the folder for 'c'/);
    assert.equal(byProblem('duplicate-keys').length, 1);
    assert.match(byProblem('duplicate-keys')[0].message, /^20 samples key\(s\) occur more than once/);
    assert.equal(duplicated.includes('model=b'), true);
  });

  test('met corpus verify exits 1 with the list; stats and query work from the CLI', async () => {
    const env = { MET_DATA: ctx.root };
    const verify = spawnMet(['corpus', 'verify', CORPUS], env);
    assert.equal(await exited(verify), 1, verify.output());
    assert.match(verify.output(), /MISPLACED samples/);
    assert.match(verify.output(), /DUPLICATE-KEYS samples: 20 samples key/);
    assert.match(verify.output(), /FAILED: 2 problem\(s\)/);
    const query = spawnMet(['corpus', 'query', CORPUS, 'SELECT model, count(*) AS n FROM samples GROUP BY ALL ORDER BY ALL', '--json'], env);
    assert.equal(await exited(query), 0, query.output());
    assert.deepEqual(JSON.parse(query.output()), [
      { model: 'a', n: '20' }, // two of its three shards were quarantined
      { model: 'b', n: '60' }, // two units and the duplicate
      { model: 'c', n: '20' }, // the misplaced one
    ]);
    const bad = spawnMet(['corpus', 'query', CORPUS, 'SELECT nope FROM samples'], env);
    assert.equal(await exited(bad), 1);
    assert.match(bad.output(), /^met: query failed: .*nope/m);
    const stats = spawnMet(['corpus', 'stats', CORPUS, '--data', ctx.root], {});
    assert.equal(await exited(stats), 0, stats.output());
    assert.match(stats.output(), /duplicate sample keys: 20/);
  });
});
