import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { DuckDBInstance } from '@duckdb/node-api';
import { TestSpec } from '../../config/testSpec';
import { kindDir, quotedString, withConnection, writeShard, type LogprobRow, type SampleRow } from '../../datasets';
import { Rng } from '../../stats/rng';
import { cramerVonMisesPvalue } from '../../stats/rut';
import { runTest } from '../../workflows/runTest';
import { cpuWorkerPlan } from '../../workers/cpu';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

/**
 * runTest with stat rut on a stored corpus: X = the reference (k = 12 samples per prompt), Y = one
 * completion per prompt from a target, all scored under the same scorer (logprob shards written
 * here, as scoreCorpus writes them). Targets: 'same' draws its scores from the reference's
 * distribution, 'shifted' from one 1.5 nats lower per completion.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-rut-test-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    await writeSource('fp32', K, 0, 1);
    await writeSource('same', 3, 0, 2);
    await writeSource('shifted', 1, 1.5, 3);
    await writeSource('fp32-ranked', K, 0, 4, true);
    await writeSource('same-ranked', 3, 0, 5, true);
    await writeSource('shifted-ranked', 1, 1.5, 6, true);
  },
});
const PROMPTS = 40;
const K = 12;

async function writeSource(source: string, perPrompt: number, shift: number, seed: number, ranked = false): Promise<void> {
  const rng = new Rng(seed);
  const samples: SampleRow[] = [];
  const logprobs: LogprobRow[] = [];
  for (let p = 0; p < PROMPTS; p++) {
    for (let s = 0; s < perPrompt; s++) {
      const tokens = 4 + rng.int(4);
      const lps = Array.from({ length: tokens }, () => Math.log(1 - rng.float()) - (0.2 * p) / PROMPTS - shift / tokens);
      samples.push({
        corpus: 'rut',
        runId: 'fixture',
        unitId: 'u0',
        model: 'toy',
        source,
        promptSet: 'fixture',
        promptId: `p${String(p).padStart(2, '0')}`,
        sampleIndex: s,
        prompt: `prompt ${p}`,
        completion: `completion ${p}.${s}`,
        tokenIds: Array.from({ length: tokens }, (_, i) => i),
        tokenLogprobs: null,
        finishReason: 'stop',
        sampling: { temperature: 1, topP: 1, maxTokens: 8, stop: [], endpoint: 'completions' },
        seed: s,
        providerModel: null,
        requestId: null,
        latencyMs: null,
        createdAt: new Date(0),
      });
      logprobs.push({
        corpus: 'rut',
        model: 'toy',
        source,
        promptId: `p${String(p).padStart(2, '0')}`,
        sampleIndex: s,
        scorerModel: 'toy',
        scorerPrecision: 'fp32',
        tokenIds: Array.from({ length: tokens }, (_, i) => i),
        tokenLogprobs: lps,
        sum: lps.reduce((a, b) => a + b, 0),
        count: tokens,
        // As a scorer stores them: a less likely token has a worse (higher) rank.
        ...(ranked ? { tokenRanks: lps.map((lp) => 1 + Math.floor(-3 * lp)) } : {}),
      });
    }
  }
  await writeShard(duck, dataDir, { corpus: 'rut', kind: 'samples', partition: { model: 'toy', source }, unitId: 'u0' }, samples);
  await writeShard(duck, dataDir, { corpus: 'rut', kind: 'logprobs', partition: { scorerModel: 'toy', model: 'toy', source }, unitId: 'u0' }, logprobs);
}

async function run(spec: TestSpec) {
  const taskQueue = uniqueName('rut-test');
  const worker = await temporal.createWorker({ taskQueue, activities: cpuWorkerPlan({ dataDir, duck, taskQueue }).activities });
  return worker.runUntil(temporal.client.workflow.execute(runTest, { taskQueue, workflowId: uniqueName('rut-test'), args: [spec] }));
}

/** Every message along an error's cause chain (the root cause is wrapped once or twice). */
function causeChain(err: unknown): string {
  const messages: string[] = [];
  for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) messages.push(String(e.message));
  return messages.join(' <- ');
}

const sel = (source: string, samplesPerPrompt?: number) => ({ corpus: 'rut', model: 'toy', source, ...(samplesPerPrompt ? { samplesPerPrompt } : {}) });

test(
  'runTest stat rut: reports W², p, k, n and the score; does not reject the same distribution, rejects a shifted one; stores the row',
  { timeout: 60_000 },
  async () => {
    const same = await run(
      TestSpec.parse({ testId: uniqueName('rut-same'), x: sel('fp32'), y: sel('same'), stat: 'rut', scorer: { model: 'toy', precision: 'fp32' }, seed: 5 }),
    );
    assert.equal(same.statistic, 'rut');
    assert.deepEqual(
      same.rut,
      { n: PROMPTS, k: K, score: 'sum_logprob', scorer: 'toy@fp32' },
      'one target completion per prompt by default, k reference completions',
    );
    assert.ok(same.pvalue > 0.05, `same distribution: p = ${same.pvalue}`);
    assert.ok(Math.abs(cramerVonMisesPvalue(same.value, PROMPTS) - same.pvalue) < 1e-15);

    const shifted = await run(
      TestSpec.parse({
        testId: uniqueName('rut-shift'),
        x: sel('fp32'),
        y: sel('shifted'),
        stat: 'rut',
        scorer: { model: 'toy', precision: 'fp32' },
        score: 'mean_logprob',
        seed: 5,
      }),
    );
    assert.equal(shifted.rut?.score, 'mean_logprob');
    assert.ok(shifted.reject && shifted.pvalue < 1e-3, `shifted by 1.5 nats: p = ${shifted.pvalue}`);

    const rows = await withConnection(duck, async (c) =>
      (
        await c.runAndReadAll(
          `SELECT statistic, pvalue_method, b, n2, reference, decision FROM read_parquet(${quotedString(`${kindDir(dataDir, 'rut', 'tests')}/part-*.parquet`)}) ORDER BY statistic`,
        )
      ).getRowObjectsJS(),
    );
    assert.deepEqual(
      rows.map((r) => [r.statistic, r.pvalue_method, Number(r.b), Number(r.n2), r.reference, r.decision]),
      [
        ['rut_mean_logprob', 'cramer_von_mises', K, PROMPTS, 'toy@fp32', 'reject'],
        ['rut_sum_logprob', 'cramer_von_mises', K, PROMPTS, 'toy@fp32', 'fail_to_reject'],
      ],
    );
  },
);

test('runTest stat rut refuses what it cannot do, saying why', { timeout: 60_000 }, async () => {
  assert.throws(() => TestSpec.parse({ testId: 'x', x: sel('fp32'), y: sel('same'), stat: 'rut' }), /scorer/);
  await assert.rejects(
    run(
      TestSpec.parse({
        testId: uniqueName('rut-lr'),
        x: sel('fp32'),
        y: sel('same'),
        stat: 'rut',
        scorer: { model: 'toy', precision: 'fp32' },
        score: 'log_rank',
      }),
    ),
    (err: unknown) => err instanceof WorkflowFailedError && /per-token ranks/.test(causeChain(err)),
  );
  await assert.rejects(
    run(TestSpec.parse({ testId: uniqueName('rut-nos'), x: sel('fp32'), y: sel('same'), stat: 'rut', scorer: { model: 'toy', precision: 'int8' } })),
    (err: unknown) => err instanceof WorkflowFailedError,
  );
});

test('runTest stat rut with the log_rank score reads the ranks logprob shards store', { timeout: 60_000 }, async () => {
  const scorer = { model: 'toy', precision: 'fp32' };
  const same = await run(
    TestSpec.parse({ testId: uniqueName('rut-lr-same'), x: sel('fp32-ranked'), y: sel('same-ranked'), stat: 'rut', scorer, score: 'log_rank', seed: 5 }),
  );
  assert.equal(same.rut?.score, 'log_rank');
  assert.ok(same.pvalue > 0.05, `same distribution: p = ${same.pvalue}`);
  const shifted = await run(
    TestSpec.parse({ testId: uniqueName('rut-lr-shift'), x: sel('fp32-ranked'), y: sel('shifted-ranked'), stat: 'rut', scorer, score: 'log_rank', seed: 5 }),
  );
  assert.ok(shifted.reject && shifted.pvalue < 1e-3, `shifted: p = ${shifted.pvalue}`);
});
