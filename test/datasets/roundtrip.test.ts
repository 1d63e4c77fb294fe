import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { queryCorpus } from '../../datasets/corpus';
import { kindDir } from '../../datasets/paths';
import { streamRows } from '../../datasets/reader';
import type { AuditRow, LogprobRow, PowerCellRow, PromptRow, SampleRow, TestResultRow } from '../../datasets/schemas';
import { writeShard } from '../../datasets/shards';
import { FILE_COLUMNS, PARTITION_COLUMNS, SHARD_KINDS, type ShardKind } from '../../datasets/tables';
import { readWithPyarrow, tempData } from './helpers';

/**
 * Every kind of row survives a write and a read: by met's own reader, by plain DuckDB SQL, and by
 * pyarrow, an independent Parquet implementation. Covers nulls vs empty lists, non-BMP text, NUL
 * characters, 1,000-token lists, int32 extremes and partition values that need encoding.
 */
const CORPUS = 'rt';
const big = Array.from({ length: 1000 }, (_, i) => ((i * 2654435761) % 2147483647) - (i % 2 ? 2147483648 : 0));
const bigLogprobs = Array.from({ length: 1000 }, (_, i) => -Math.abs(Math.sin(i + 1)) * 17.3);
const base = {
  corpus: CORPUS,
  runId: 'run-1',
  unitId: 'unit-a',
  model: 'meta-llama/Llama 3.1 8B',
  source: 'NULL',
  promptSet: 'set',
  sampling: { temperature: 0.7, topP: 0.95, maxTokens: 1000, stop: [] as string[], endpoint: 'chat' as const },
};

const samples: SampleRow[] = [
  {
    ...base,
    sampler: null,
    promptTokens: null,
    completionTokens: null,
    promptId: 'p😀',
    sampleIndex: 0,
    prompt: 'Say 😀a',
    completion: '😀a',
    tokenIds: [],
    tokenLogprobs: [],
    finishReason: 'stop',
    seed: null,
    providerModel: null,
    requestId: null,
    latencyMs: null,
    createdAt: new Date('2026-11-01T12:00:00.123Z'),
    sampling: { ...base.sampling, stop: ['\n\n', 'END', ''] },
  },
  {
    ...base,
    sampler: '{"engine":"provider:x","settings":{"temperature":0.7}}',
    promptTokens: 12,
    completionTokens: 0,
    promptId: 'p2',
    sampleIndex: 1,
    prompt: '',
    completion: null,
    tokenIds: null,
    tokenLogprobs: null,
    finishReason: 'error',
    seed: 9007199254740991,
    providerModel: 'gpt-x',
    requestId: 'req-1',
    latencyMs: 0.1,
    createdAt: new Date('1999-12-31T23:59:59.999Z'),
  },
  {
    ...base,
    sampler: null,
    promptTokens: 2147483647,
    completionTokens: 1000,
    promptId: 'p3',
    sampleIndex: 2,
    prompt: 'long',
    completion: 'naïve – 漢字 𝄞\u0000end',
    tokenIds: big,
    tokenLogprobs: bigLogprobs,
    finishReason: 'length',
    seed: -42,
    providerModel: '',
    requestId: 'r',
    latencyMs: 12345.678,
    createdAt: new Date(0),
  },
];

const logprobs: LogprobRow[] = [
  {
    corpus: CORPUS,
    model: base.model,
    source: base.source,
    promptId: 'p😀',
    sampleIndex: 0,
    scorerModel: 'ref/model',
    scorerPrecision: 'fp32',
    tokenIds: [],
    tokenLogprobs: [],
    sum: 0,
    count: 0,
    scorerBackend: null,
    tokenRanks: null,
  },
  {
    corpus: CORPUS,
    model: base.model,
    source: base.source,
    promptId: 'p3',
    sampleIndex: 2,
    scorerModel: 'ref/model',
    scorerPrecision: 'fp32',
    tokenIds: big,
    tokenLogprobs: bigLogprobs,
    sum: bigLogprobs.reduce((a, b) => a + b, 0),
    count: 1000,
    scorerBackend: 'llama.cpp in-process (server: llama.cpp)',
    tokenRanks: Array.from({ length: 1000 }, (_, i) => 1 + (i % 7)),
  },
];

const prompts: PromptRow[] = [
  { promptSet: 'set', promptId: 'p😀', sourceDataset: 'wiki', language: null, text: 'Say 😀a', messages: null },
  { promptSet: 'set', promptId: 'p2', sourceDataset: '', language: 'en', text: '', messages: JSON.stringify([{ role: 'user', content: 'hi' }]) },
];

const tests: TestResultRow[] = [
  {
    corpus: CORPUS,
    runId: 'r',
    testId: 't1',
    statistic: 'mmd_hamming',
    unit: 'char',
    L: 1000,
    xModel: 'a',
    xSource: 'fp32',
    yModel: 'a',
    ySource: 'nf4',
    reference: null,
    promptSet: 'set',
    m: 25,
    n1: 250,
    n2: 250,
    value: 0.0123,
    pValue: 0.001,
    alpha: 0.05,
    decision: 'reject',
    pvalueMethod: 'permutation',
    b: 1000,
    seed: 7,
    durationMs: 1234.5,
    createdAt: new Date('2026-11-02T00:00:00Z'),
    nullStatistics: [0.1, -0.2, 0],
  },
  {
    corpus: CORPUS,
    runId: 'r',
    testId: 't2',
    statistic: 'g_squared',
    unit: 'token',
    L: 50,
    xModel: 'a',
    xSource: 'api',
    yModel: null,
    ySource: null,
    reference: 'a@fp32',
    promptSet: 'set',
    m: 10,
    n1: 100,
    n2: null,
    value: 3.5,
    pValue: 0.5,
    alpha: 0.05,
    decision: 'fail_to_reject',
    pvalueMethod: 'bootstrap',
    b: 200,
    seed: null,
    durationMs: null,
    createdAt: new Date('2026-11-02T00:00:01Z'),
    nullStatistics: null,
  },
];

const power: PowerCellRow[] = [
  {
    corpus: CORPUS,
    runId: 'p',
    cellId: 'c1',
    statistic: 'mmd_hamming',
    unit: 'char',
    L: 1000,
    reference: 'fp32',
    alternative: 'nf4',
    isNull: false,
    nPerPrompt: 10,
    m: 25,
    subsetDraw: 0,
    sims: 100,
    rejections: 87,
    power: 0.87,
    alpha: 0.05,
    b: 1000,
    seed: 1,
    durationMs: 99,
    createdAt: new Date('2026-11-03T00:00:00Z'),
    reference2: 'fp16',
    simSeeds: [4294967295, 0],
    simStatistics: [0.5, -0.25],
    simPvalues: [0.001, 1],
    simStatistics2: [0.4, 0],
    simPvalues2: [0.002, 0.5],
    warnings: ['pool of 12 < 3 x 10'],
  },
  {
    corpus: CORPUS,
    runId: 'p',
    cellId: 'c2',
    statistic: 'mmd_hamming',
    unit: 'char',
    L: 1000,
    reference: 'fp32',
    alternative: 'fp32',
    isNull: true,
    nPerPrompt: 10,
    m: 25,
    subsetDraw: 1,
    sims: 100,
    rejections: 4,
    power: 0.04,
    alpha: 0.05,
    b: 1000,
    seed: null,
    durationMs: null,
    createdAt: new Date('2026-11-03T00:00:01Z'),
    reference2: null,
    simSeeds: null,
    simStatistics: null,
    simPvalues: null,
    simStatistics2: null,
    simPvalues2: null,
    warnings: [],
  },
];

const audits: AuditRow[] = [
  {
    corpus: CORPUS,
    audit: 'watch',
    firingId: 'watch.20261130T105005Z-1a2b3c4d',
    time: new Date('2026-11-30T10:50:05.250Z'),
    endpoint: 'tiny/stand',
    model: 'tiny',
    source: 'stand.20261130T105005Z-1a2b3c4d',
    reference: 'ref:tiny/fp32',
    testId: 'watch.20261130T105005Z-1a2b3c4d.e0',
    statistic: 'mmd_hamming',
    value: 0.0123,
    pValue: 0.004,
    alpha: 0.01,
    n1: 160,
    n2: 80,
    m: 8,
    reject: true,
    verdict: 'differs',
    changed: true,
    confirmations: 2,
    promptTokens: 1200,
    completionTokens: 3840,
    countedCompletionTokens: 3200,
    billingRatio: 1.2,
    billingMaxRatio: 1.05,
    requests: 80,
    tracking: null,
    identify:
      '{"y":"rt:tiny/stand.20261130T105005Z-1a2b3c4d","stat":"mmd_hamming","alpha":0.01,"correction":"holm","candidates":[],"notRejected":[],"error":"no slice"}',
  },
  {
    corpus: CORPUS,
    audit: 'watch',
    firingId: 'watch.20261130T105010Z-5e6f7a8b',
    time: new Date('2026-11-30T10:50:10Z'),
    endpoint: 'tiny/other',
    model: 'tiny',
    source: 'other.20261130T105010Z-5e6f7a8b',
    reference: 'ref:tiny/fp32',
    testId: 'watch.20261130T105010Z-5e6f7a8b.e1',
    statistic: 'mmd_hamming',
    value: -0.001,
    pValue: 1,
    alpha: 0.01,
    n1: 160,
    n2: 80,
    m: 8,
    reject: false,
    verdict: 'consistent',
    changed: false,
    confirmations: 2,
    promptTokens: null,
    completionTokens: null,
    countedCompletionTokens: null,
    billingRatio: null,
    billingMaxRatio: null,
    requests: 8,
    tracking: '{"role":"baseline","topK":2,"probes":["p0"],"answers":[[["a",-0.1],["b",-2.5]]]}',
    identify: null,
  },
];

const ROWS: Record<ShardKind, Record<string, unknown>[]> = { samples, logprobs, prompts, tests, power, audits };
const FLOAT32_FIELDS: Partial<Record<ShardKind, string[]>> = { samples: ['tokenLogprobs'] };

/** What a row should read back as: float32 columns rounded to float32. */
function expected(kind: ShardKind, row: Record<string, unknown>): Record<string, unknown> {
  const out = { ...row };
  for (const f of FLOAT32_FIELDS[kind] ?? []) if (Array.isArray(out[f])) out[f] = (out[f] as number[]).map(Math.fround);
  return out;
}

const keyOf = (kind: ShardKind, r: Record<string, unknown>) =>
  JSON.stringify(kind === 'prompts' ? [r.promptId] : [r.promptId ?? r.testId ?? r.cellId, r.sampleIndex ?? null]);

describe('round trip of every schema', () => {
  let ctx: Awaited<ReturnType<typeof tempData>>;
  before(async () => {
    ctx = await tempData();
    for (const kind of SHARD_KINDS)
      await writeShard(ctx.duck, ctx.root, { corpus: CORPUS, kind, unitId: kind === 'samples' ? base.unitId : `${kind}-unit` }, ROWS[kind]);
  });
  after(() => ctx.cleanup());

  for (const kind of SHARD_KINDS) {
    test(`${kind}: met's reader returns the rows written`, async () => {
      const back: Record<string, unknown>[] = [];
      for await (const batch of streamRows(ctx.duck, ctx.root, { corpus: CORPUS, kind })) back.push(...batch);
      assert.equal(back.length, ROWS[kind].length);
      const byKey = new Map(back.map((r) => [keyOf(kind, r), r]));
      for (const row of ROWS[kind]) assert.deepEqual(byKey.get(keyOf(kind, row)), expected(kind, row));
    });
  }

  test('samples: plain DuckDB SQL reads the same values (nulls stay null, empty lists stay empty)', async () => {
    const r = await queryCorpus(
      ctx.duck,
      ctx.root,
      CORPUS,
      `SELECT prompt_id, completion, token_ids, token_logprobs IS NULL AS lp_null, len(token_logprobs) AS lp_len, seed::VARCHAR AS seed,
              epoch_ms(created_at) AS ms, model, source, sampling.stop AS stop, length(completion) AS chars
       FROM samples ORDER BY sample_index`,
    );
    const rows = r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));
    assert.deepEqual(rows[0], {
      prompt_id: 'p😀',
      completion: '😀a',
      token_ids: [],
      lp_null: false,
      lp_len: '0',
      seed: null,
      ms: '1793534400123',
      model: base.model,
      source: 'NULL',
      stop: ['\n\n', 'END', ''],
      chars: '2',
    });
    assert.equal(rows[1].completion, null);
    assert.equal(rows[1].token_ids, null);
    assert.equal(rows[1].lp_null, true);
    assert.equal(rows[1].seed, '9007199254740991');
    assert.deepEqual(rows[2].token_ids, big);
    assert.equal(rows[2].completion, 'naïve – 漢字 𝄞\u0000end');
    assert.equal(rows[2].chars, String([...'naïve – 漢字 𝄞\u0000end'].length));
  });

  test('pyarrow reads the same rows, types and metadata (partition values decoded from the folder names)', () => {
    for (const kind of SHARD_KINDS) {
      const partitionColumns = PARTITION_COLUMNS[kind].map((c) => c.name);
      const got = readWithPyarrow(kindDir(ctx.root, CORPUS, kind), partitionColumns);
      assert.equal(got.rows.length, ROWS[kind].length, kind);
      const fieldOf = new Map([...FILE_COLUMNS[kind], ...PARTITION_COLUMNS[kind]].map((c) => [c.name, c]));
      const camel = (r: Record<string, unknown>) => {
        const out: Record<string, unknown> = {};
        for (const [name, v] of Object.entries(r)) {
          const col = fieldOf.get(name)!;
          assert.ok(col, `${kind}: unexpected column ${name}`);
          let value = v;
          if (value && typeof value === 'object' && '$date' in value) value = new Date((value as { $date: string }).$date);
          if (col.name === 'sampling' && value) {
            const s = value as Record<string, unknown>;
            value = { temperature: s.temperature, topP: s.top_p, maxTokens: s.max_tokens, stop: s.stop, endpoint: s.endpoint };
          }
          out[col.field] = value;
        }
        return out;
      };
      const byKey = new Map(got.rows.map((r) => [keyOf(kind, camel(r)), camel(r)]));
      for (const row of ROWS[kind]) assert.deepEqual(byKey.get(keyOf(kind, row)), expected(kind, row), kind);
      const meta = Object.values(got.metadata);
      assert.equal(meta.length, 1);
      assert.equal(meta[0].met_rows, String(ROWS[kind].length));
      assert.equal(meta[0].met_kind, kind);
      if (kind === 'samples') {
        assert.equal(got.schema.token_ids, 'list<element: int32>');
        assert.equal(got.schema.token_logprobs, 'list<element: float>');
        assert.equal(got.schema.created_at, 'timestamp[us, tz=UTC]');
        assert.equal(got.schema.seed, 'int64');
        assert.equal(got.schema.model, 'string');
      }
    }
  });

  test('shard folders percent-encode partition values', () => {
    const dir = kindDir(ctx.root, CORPUS, 'samples');
    const expectedDir = join(dir, 'model=meta-llama%2FLlama%203.1%208B', 'source=%4EULL');
    const got = readWithPyarrow(expectedDir, []);
    assert.equal(got.rows.length, samples.length);
  });
});
