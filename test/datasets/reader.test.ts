import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorTypes, MetError } from '../../common/errors';
import { readLogprobSums, readSlice, streamRows } from '../../datasets/reader';
import type { LogprobRow, SampleRow } from '../../datasets/schemas';
import { writeShard } from '../../datasets/shards';
import { syntheticSamples } from '../../datasets/synthetic';
import { tempData } from './helpers';

/**
 * Slices become the statistics engine's arrays: checked against an independent encoding of the
 * same rows in plain JS (code points via codePointAt, token ids, padding, truncation, EOS).
 */
const CORPUS = 'reader';

/** Two units per (model, source), prompts p0..p5, 4 samples each, plus hand-made rows. */
function corpusRows(): SampleRow[] {
  const rows: SampleRow[] = [];
  for (const model of ['m1', 'm2']) {
    for (const source of ['fp32', 'nf4']) {
      for (const half of [0, 1]) {
        const unitId = `${model}-${source}-${half}`;
        rows.push(
          ...syntheticSamples({
            corpus: CORPUS,
            unitId,
            model,
            source,
            prompts: 3,
            firstPrompt: half * 3,
            samplesPerPrompt: 4,
            seed: rows.length + 1,
            completionChars: 30,
            tokens: 8,
          }),
        );
      }
    }
  }
  // A non-BMP completion, a long one (truncated at L), a failed request (null completion).
  const special = rows.find((r) => r.model === 'm1' && r.source === 'fp32' && r.promptId === 'p0' && r.sampleIndex === 0)!;
  special.completion = '😀a';
  special.tokenIds = [5, 7, 2, 9, 9];
  const long = rows.find((r) => r.model === 'm1' && r.source === 'fp32' && r.promptId === 'p1' && r.sampleIndex === 1)!;
  long.completion = '𝄞'.repeat(40) + 'tail';
  const failed = rows.find((r) => r.model === 'm1' && r.source === 'fp32' && r.promptId === 'p2' && r.sampleIndex === 3)!;
  failed.completion = null;
  failed.tokenIds = null;
  failed.finishReason = 'error';
  return rows;
}

function codePoints(text: string, L: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length && out.length < L;) {
    const cp = text.codePointAt(i)!;
    out.push(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  while (out.length < L) out.push(-1);
  return out;
}

describe('slice reader', () => {
  let ctx: Awaited<ReturnType<typeof tempData>>;
  const rows = corpusRows();
  before(async () => {
    ctx = await tempData();
    const units = new Map<string, SampleRow[]>();
    for (const r of rows) units.set(r.unitId, [...(units.get(r.unitId) ?? []), r]);
    for (const [unitId, unitRows] of units) await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind: 'samples', unitId }, unitRows);
    // Logprobs of m1/fp32 under a scorer, with sums from the rows' own token logprobs.
    const lp: LogprobRow[] = rows
      .filter((r) => r.model === 'm1' && r.source === 'fp32')
      .map((r) => ({
        corpus: CORPUS,
        model: r.model,
        source: r.source,
        promptId: r.promptId,
        sampleIndex: r.sampleIndex,
        scorerModel: 'ref',
        scorerPrecision: 'fp32',
        tokenIds: r.tokenIds ?? [],
        tokenLogprobs: r.tokenLogprobs ?? [],
        sum: (r.tokenLogprobs ?? []).reduce((a, b) => a + b, 0),
        count: r.tokenIds?.length ?? 0,
      }));
    await writeShard(
      ctx.duck,
      ctx.root,
      { corpus: CORPUS, kind: 'logprobs', partition: { scorerModel: 'ref', model: 'm1', source: 'fp32' }, unitId: 'lp' },
      lp,
    );
  });
  after(() => ctx.cleanup());

  test('char unit: prompt indices and padded code points equal a plain-JS encoding of the same rows', async () => {
    const L = 32;
    const slice = await readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['m1'], sources: ['fp32'], L });
    const expected = rows
      .filter((r) => r.model === 'm1' && r.source === 'fp32' && r.completion !== null)
      .sort((a, b) => (a.promptId < b.promptId ? -1 : a.promptId > b.promptId ? 1 : a.sampleIndex - b.sampleIndex));
    assert.deepEqual(slice.promptIds, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
    assert.equal(slice.sample.L, L);
    assert.equal(slice.sample.m, 6);
    assert.equal(slice.skippedNull, 1);
    assert.deepEqual(
      [...slice.sample.prompts],
      expected.map((r) => slice.promptIds.indexOf(r.promptId)),
    );
    assert.deepEqual(
      [...slice.sampleIndex],
      expected.map((r) => r.sampleIndex),
    );
    assert.deepEqual(
      [...slice.sample.tokens],
      expected.flatMap((r) => codePoints(r.completion!, L)),
    );
    assert.deepEqual([...slice.sample.tokens.subarray(0, 3)], [128512, 97, -1], '"😀a" -> [128512, 97, -1, ...]');
    assert.deepEqual([...slice.rowsPerPrompt], [4, 4, 3, 4, 4, 4]);
  });

  test('token unit: token ids, pad id, truncation and everything after the first EOS padded', async () => {
    const slice = await readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['m1'], sources: ['fp32'], unit: 'token', L: 6, padId: 0, eosId: 9 });
    assert.deepEqual([...slice.sample.tokens.subarray(0, 6)], [5, 7, 2, 9, 0, 0]);
    const expected = rows
      .filter((r) => r.model === 'm1' && r.source === 'fp32' && r.tokenIds !== null)
      .sort((a, b) => (a.promptId < b.promptId ? -1 : a.promptId > b.promptId ? 1 : a.sampleIndex - b.sampleIndex))
      .flatMap((r) => {
        const t = r.tokenIds!.slice(0, 6);
        const eos = t.indexOf(9);
        const kept = eos >= 0 ? t.slice(0, eos + 1) : t;
        return [...kept, ...new Array(6 - kept.length).fill(0)];
      });
    assert.deepEqual([...slice.sample.tokens], expected);
  });

  test('X and Y share prompt indices when given the same promptIds; models and sources filter', async () => {
    const promptIds = ['p5', 'p0', 'p3'];
    const x = await readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['m2'], sources: ['fp32'], promptIds, L: 8 });
    const y = await readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['m2'], sources: ['nf4'], promptIds, L: 8 });
    assert.deepEqual(x.promptIds, promptIds);
    assert.deepEqual([...x.sample.prompts], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    assert.deepEqual([...y.sample.prompts], [...x.sample.prompts]);
    assert.notDeepEqual([...x.sample.tokens], [...y.sample.tokens]);
    const both = await readSlice(ctx.duck, ctx.root, { corpus: CORPUS, sources: ['nf4'], promptIds, L: 8 });
    assert.equal(both.sample.prompts.length, 24);
  });

  test('samples per prompt: a seeded subset, the same on every call, different for another seed', async () => {
    const pick = async (seed: number) => {
      const s = await readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['m2'], sources: ['nf4'], samplesPerPrompt: 2, seed, L: 4 });
      return [...s.sampleIndex].map((k, i) => `${s.sample.prompts[i]}:${k}`);
    };
    const a = await pick(1);
    assert.equal(a.length, 12);
    assert.deepEqual(await pick(1), a);
    const others = await Promise.all([2, 3, 4, 5].map(pick));
    assert.ok(
      others.some((o) => JSON.stringify(o) !== JSON.stringify(a)),
      'another seed picks another subset',
    );
    for (const p of [0, 1, 2, 3, 4, 5]) assert.equal(a.filter((x) => x.startsWith(`${p}:`)).length, 2);
  });

  test('too few samples for a prompt is MetError TooFewSamples naming the prompt, unless allowFewer', async () => {
    await assert.rejects(
      readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['m1'], sources: ['fp32'], samplesPerPrompt: 4, L: 4 }),
      (e: MetError) => e.type === ErrorTypes.TooFewSamples && /p2 \(3\)/.test(e.message),
    );
    await assert.rejects(readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['m1'], promptIds: ['p0', 'nope'], L: 4 }), /nope \(0\)/);
    const s = await readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['m1'], sources: ['fp32'], samplesPerPrompt: 4, L: 4, allowFewer: true });
    assert.equal(s.sample.prompts.length, 23);
    await assert.rejects(readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['absent'] }), (e: MetError) => e.type === ErrorTypes.TooFewSamples);
  });

  test('logprob sums for one-sample tests, aligned with the slice rows and by key', async () => {
    const slice = await readSlice(ctx.duck, ctx.root, {
      corpus: CORPUS,
      models: ['m1'],
      sources: ['fp32'],
      L: 4,
      logprobsUnder: { scorerModel: 'ref', scorerPrecision: 'fp32' },
    });
    const byKey = new Map(rows.map((r) => [`${r.model}/${r.source}/${r.promptId}/${r.sampleIndex}`, r]));
    slice.sampleIndex.forEach((k, i) => {
      const r = byKey.get(`m1/fp32/${slice.promptIds[slice.sample.prompts[i]]}/${k}`)!;
      assert.equal(
        slice.logprobSum![i],
        r.tokenLogprobs!.reduce((a, b) => a + b, 0),
      );
      assert.equal(slice.logprobCount![i], r.tokenIds!.length);
    });
    await assert.rejects(
      readSlice(ctx.duck, ctx.root, { corpus: CORPUS, models: ['m2'], L: 4, logprobsUnder: { scorerModel: 'ref' } }),
      /no logprobs under scorer ref/,
    );
    const sums = await readLogprobSums(ctx.duck, ctx.root, { corpus: CORPUS, scorerModel: 'ref' });
    assert.equal(sums.sum.length, 24);
    for (let i = 0; i < sums.sum.length; i++) {
      const r = byKey.get(`${sums.model[i]}/${sums.source[i]}/${sums.promptIds[sums.promptIndex[i]]}/${sums.sampleIndex[i]}`)!;
      assert.equal(
        sums.sum[i],
        (r.tokenLogprobs ?? []).reduce((a, b) => a + b, 0),
      );
    }
  });

  test('streamRows yields every row once, in batches', async () => {
    let n = 0;
    let batches = 0;
    const keys = new Set<string>();
    for await (const batch of streamRows(ctx.duck, ctx.root, { corpus: CORPUS, batchSize: 10 })) {
      batches++;
      assert.ok(batch.length <= 10);
      for (const r of batch) keys.add(`${r.model}/${r.source}/${r.promptId}/${r.sampleIndex}`);
      n += batch.length;
    }
    assert.equal(n, rows.length);
    assert.equal(keys.size, rows.length);
    assert.equal(batches, Math.ceil(rows.length / 10));
  });
});
