/**
 * A slice is a set of sample keys (docs/slices.md): a shard whose keys the slice already holds is
 * never committed, and readers refuse a slice that holds a key twice (written by hand here, as
 * only a hand or an older met could).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ErrorTypes, MetError } from '../../common/errors';
import { LocalCorpora } from '../../datasets/corpora';
import { CorpusStore } from '../../datasets/corpusStore';
import { createDuckDB, type DuckDBInstance } from '../../datasets/duck';
import { shardPath } from '../../datasets/paths';
import { readSlice } from '../../datasets/reader';
import { heldKeys, sliceHoldings } from '../../datasets/sliceKeys';
import { syntheticSamples } from '../../datasets/synthetic';

const dir = mkdtempSync(join(tmpdir(), 'met-slice-keys-'));
let duck: DuckDBInstance;
before(async () => {
  duck = await createDuckDB();
});
after(() => {
  duck.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

const partition = { model: 'm', source: 'ep' };
const rows = (
  corpus: string,
  unitId: string,
  opts: { firstPrompt?: number; prompts?: number; perPrompt?: number; from?: number; runId?: string; seed?: number } = {},
) =>
  syntheticSamples({
    corpus,
    unitId,
    model: 'm',
    source: 'ep',
    firstPrompt: opts.firstPrompt ?? 0,
    prompts: opts.prompts ?? 2,
    samplesPerPrompt: opts.perPrompt ?? 5,
    seed: opts.seed ?? 1,
    runId: opts.runId,
    completionChars: 12,
    tokens: 4,
  }).map((r) => ({ ...r, sampleIndex: r.sampleIndex + (opts.from ?? 0) }));

test('a unit whose keys the slice already holds in another shard is refused at commit and leaves no file', async () => {
  const corpus = 'commit';
  const store = new CorpusStore(duck, dir);
  await store.writeShard(corpus, 'samples', partition, 'u1', rows(corpus, 'u1'));
  // Keys p0#3..p0#7: p0#3 and p0#4 are u1's.
  const planted = rows(corpus, 'u2', { prompts: 1, from: 3, seed: 2 });
  await assert.rejects(
    store.writeShard(corpus, 'samples', partition, 'u2', planted),
    (err: MetError) =>
      err.type === ErrorTypes.DuplicateSamples &&
      /unit u2 was not committed: 2 of its 5 sample keys are already in slice commit:m\/ep, e\.g\. p0#3 \(in part-u1\.parquet\)/.test(err.message),
  );
  assert.equal(existsSync(shardPath(dir, corpus, 'samples', partition, 'u2')), false, 'nothing committed');
  // The same unit again (a retry, or another host finishing it) is the same shard, not a conflict.
  assert.equal((await store.writeShard(corpus, 'samples', partition, 'u1', rows(corpus, 'u1'))).alreadyDone, true);
  // Disjoint keys commit.
  await store.writeShard(corpus, 'samples', partition, 'u3', rows(corpus, 'u3', { from: 5 }));
  assert.deepEqual(
    await heldKeys(duck, dir, { corpus, model: 'm', source: 'ep' }, 'u9', [
      { promptId: 'p1', sampleIndex: 9 },
      { promptId: 'p1', sampleIndex: 10 },
    ]),
    [{ promptId: 'p1', sampleIndex: 9, file: shardPath(dir, corpus, 'samples', partition, 'u3') }],
  );
});

test('what a slice holds, as a growing run sees it: per-prompt prefixes of other runs, its own rows left out', async () => {
  const corpus = 'holdings';
  const corpora = new LocalCorpora(duck, dir);
  await corpora.writeShard({ corpus, kind: 'samples', partition, unitId: 'a' }, rows(corpus, 'a', { perPrompt: 3, runId: 'run-a' }));
  await corpora.writeShard({ corpus, kind: 'samples', partition, unitId: 'b' }, rows(corpus, 'b', { perPrompt: 2, from: 3, runId: 'run-b' }));
  const seenByB = await sliceHoldings(duck, dir, { corpus, model: 'm', source: 'ep' }, 'run-b');
  assert.deepEqual(Object.fromEntries(seenByB.perPrompt), { p0: { count: 3, maxIndex: 2 }, p1: { count: 3, maxIndex: 2 } });
  assert.deepEqual(seenByB.runIds, ['run-a']);
  assert.equal(seenByB.duplicateKeys, 0);
  const seenByC = await sliceHoldings(duck, dir, { corpus, model: 'm', source: 'ep' }, 'run-c');
  assert.equal(seenByC.rows, 10);
  assert.equal(seenByC.perPrompt.get('p0')?.maxIndex, 4);
});

test('a slice holding a key twice is refused by readers, naming the slice and the fix', async () => {
  const corpus = 'dups';
  // Written past the commit check, as a hand copy (or met before slices were sets) would.
  const corpora = new LocalCorpora(duck, dir);
  await corpora.writeShard({ corpus, kind: 'samples', partition, unitId: 'first' }, rows(corpus, 'first'));
  await corpora.writeShard({ corpus, kind: 'samples', partition, unitId: 'again' }, rows(corpus, 'again', { seed: 7 }));
  await corpora.writeShard(
    { corpus, kind: 'samples', partition: { model: 'm', source: 'ref' }, unitId: 'ref' },
    rows(corpus, 'ref').map((r) => ({ ...r, source: 'ref' })),
  );
  await assert.rejects(
    readSlice(duck, dir, { corpus, models: ['m'], sources: ['ep'] }),
    (err: MetError) => err.type === ErrorTypes.DuplicateSamples && /^dups:m\/ep \(10 duplicate keys\): .* Run 'met corpus verify dups'/.test(err.message),
  );
  // The other slice of the corpus is a set and reads as before.
  assert.equal((await readSlice(duck, dir, { corpus, models: ['m'], sources: ['ref'] })).sample.prompts.length, 10);
});
