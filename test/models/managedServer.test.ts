import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { WorkerConfig } from '../../config/workers';
import { createDuckDB, kindDir, quotedString, withConnection } from '../../datasets';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { ManagedServerBackend, serverCommand, ManagedServerSpec } from '../../models/managedServer';
import { writeTinyModels } from '../../models/tiny';
import { startServe } from '../../serve/server';
import { TextGeneratorBackend } from '../../serve/textGenerator';
import { PROJECT_ROOT } from '../../temporal/binary';
import { collectCorpus } from '../../workflows/collectCorpus';
import { scoreCorpus } from '../../workflows/scoreCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { startTestTemporal, uniqueName, type TestTemporal } from '../helpers/temporal';

/**
 * The managed inference-server backend against `met serve` standing in for vLLM: the worker
 * starts it (the real CLI, a child process), scores through echo + logprobs / prompt_logprobs,
 * survives the server being SIGKILLed mid-use, and gives the same logprob rows as in-process
 * llama.cpp on the same GGUF.
 */
const dir = mkdtempSync(join(tmpdir(), 'met-managed-'));
let paths: Record<string, string>;
let inProcess: LlamaBackend;
const opened: ManagedServerBackend[] = [];

/** `met serve` as the server command, standing in for vLLM: it takes no vLLM flags, so none are appended. */
const metServe = (extra: Partial<ManagedServerSpec> = {}) => ({
  profile: 'vllm' as const,
  command: process.execPath,
  args: [join(PROJECT_ROOT, 'bin', 'met.js'), 'serve', '--model', '{model}', '--port', '{port}', '--precision', '{precision}'],
  precisionFlags: {},
  extraArgs: [],
  backoffMs: 100,
  startTimeoutMs: 60_000,
  ...extra,
});

async function managed(name: string, extra: Partial<ManagedServerSpec> = {}): Promise<ManagedServerBackend> {
  const b = await ManagedServerBackend.start({ server: metServe(extra), modelRef: paths.fp32, model: name, precision: 'fp32', gpu: 'cpu' });
  opened.push(b);
  return b;
}

before(async () => {
  paths = writeTinyModels(join(dir, 'models'));
  inProcess = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32' });
});
after(async () => {
  for (const b of opened) await b.close();
  await inProcess?.close();
  rmSync(dir, { recursive: true, force: true });
});

const PAIRS: [string, string][] = [
  ['The king and the queen', ' went to the river and sat'],
  ['Once upon a time', ' there was a small house.'],
  ['', 'She opened the door and'],
  ['In the morning we', ' ate bread'],
];

function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return Math.max(0, ...a.map((v, i) => Math.abs(v - b[i])));
}

test('the server command: placeholders, vLLM precision flags, prefix caching off, pinned GPU; unknown placeholders refused', () => {
  const spec = ManagedServerSpec.parse({ command: 'vllm' });
  const fp16 = serverCommand(spec, { modelRef: 'meta-llama/Llama-3.2-1B', model: 'llama-1b', precision: 'fp16', gpu: 2, port: 8123 });
  assert.equal(fp16.command, 'vllm');
  assert.deepEqual(fp16.args, [
    'serve',
    'meta-llama/Llama-3.2-1B',
    '--host',
    '127.0.0.1',
    '--port',
    '8123',
    '--served-model-name',
    'llama-1b',
    '--dtype',
    'float16',
    '--no-enable-prefix-caching',
  ]);
  assert.equal(fp16.env.CUDA_VISIBLE_DEVICES, '2');
  const nf4 = serverCommand(spec, { modelRef: 'm', model: 'm', precision: 'nf4', gpu: 0, port: 1 });
  assert.ok(nf4.args.join(' ').includes('--quantization bitsandbytes'));
  assert.equal(serverCommand(spec, { modelRef: 'm', model: 'm', precision: 'fp32', gpu: 'cpu', port: 1 }).env.CUDA_VISIBLE_DEVICES, '');
  assert.throws(
    () =>
      serverCommand(ManagedServerSpec.parse({ command: 'x', args: ['--port', '{prot}'] }), { modelRef: 'm', model: 'm', precision: 'fp32', gpu: 0, port: 1 }),
    /unknown placeholder \{prot\}/,
  );
  // A managed model needs its server; an in-process one does not.
  assert.equal(WorkerConfig.safeParse({ models: [{ name: 'm', precision: 'fp16', path: 'x', backend: 'managed' }] }).success, false);
  assert.equal(
    WorkerConfig.safeParse({ models: [{ name: 'm', precision: 'fp16', path: 'x', backend: 'managed', gpu: 0, server: { command: 'vllm' } }] }).success,
    true,
  );
});

test('met serve scores like vLLM: echo + logprobs (first token null, max_tokens 0), prompt_logprobs, /tokenize', async () => {
  const b = await managed(uniqueName('tiny'));
  const url = b.stats().url!;
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return res.json() as Promise<Record<string, any>>;
  };
  const prompt = 'The old man said';
  const { tokens } = await post('/tokenize', { prompt });
  assert.equal(tokens[0], 1, 'BOS first (add_special_tokens defaults to true)');
  assert.deepEqual((await post('/tokenize', { prompt, add_special_tokens: false })).tokens, tokens.slice(1));

  const echo = (await post('/v1/completions', { model: b.model, prompt, echo: true, max_tokens: 0, logprobs: 3 })).choices[0];
  assert.equal(echo.text, prompt, 'max_tokens 0 returns the prompt only');
  assert.equal(echo.logprobs.tokens.length, tokens.length);
  assert.equal(echo.logprobs.token_logprobs[0], null);
  assert.equal(echo.logprobs.top_logprobs[0], null);
  assert.equal(echo.logprobs.tokens.slice(1).join(''), prompt, 'token texts spell the prompt');
  assert.deepEqual(echo.logprobs.text_offset.slice(0, 3), [0, 0, echo.logprobs.tokens[1].length]);
  const direct = await inProcess.scoreTokens('', tokens.slice(1));
  assert.ok(maxDiff(echo.logprobs.token_logprobs.slice(1), direct) < 1e-9);
  for (let i = 1; i < tokens.length; i++) {
    const top = Object.values(echo.logprobs.top_logprobs[i] as Record<string, number>);
    assert.ok(top.length >= 3 && top.length <= 4, 'N alternatives plus the prompt token');
    assert.ok(top.every((v) => v <= 0) && Math.max(...top) >= echo.logprobs.token_logprobs[i] - 1e-12);
  }

  const viaIds = (await post('/v1/completions', { model: b.model, prompt: tokens, max_tokens: 1, temperature: 0, prompt_logprobs: 2 })).choices[0];
  assert.deepEqual(viaIds.prompt_token_ids, tokens, 'a token-id prompt is used as given (no second BOS)');
  assert.equal(viaIds.prompt_logprobs[0], null);
  for (let i = 1; i < tokens.length; i++) {
    const entry = viaIds.prompt_logprobs[i][String(tokens[i])];
    assert.ok(Math.abs(entry.logprob - direct[i - 1]) < 1e-9);
    assert.ok(Number.isInteger(entry.rank) && entry.rank >= 1);
    const ranks = Object.values(viaIds.prompt_logprobs[i] as Record<string, { rank: number }>).map((e) => e.rank);
    assert.ok(ranks.includes(1) && ranks.includes(2));
  }
  const bad = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: [1, 10_000_000], echo: true, max_tokens: 0, logprobs: 0 }),
  });
  assert.equal(bad.status, 400, 'token ids outside the vocabulary are refused');
});

test('the managed backend scores and samples exactly as in-process llama.cpp on the same GGUF', async () => {
  for (const scoring of ['echo', 'prompt_logprobs'] as const) {
    const b = await managed(uniqueName('tiny'), { scoring });
    for (const [prompt, completion] of PAIRS) {
      const [m, l] = [await b.score(prompt, completion), await inProcess.score(prompt, completion)];
      assert.deepEqual(m.tokenIds, l.tokenIds, 'completion tokens are the tokens after the prompt, tokenized apart');
      assert.ok(maxDiff(m.tokenLogprobs, l.tokenLogprobs) < 1e-4, `${scoring}: ${maxDiff(m.tokenLogprobs, l.tokenLogprobs)}`);
    }
    assert.equal(b.stats().scoring, scoring);
  }
  const b = opened[opened.length - 1];
  const request = { prompt: 'Once upon a time', maxTokens: 12, temperature: 1, topP: 0.95, seed: 11, logprobs: true };
  const [m, l] = [await b.generate(request), await inProcess.generate(request)];
  assert.deepEqual({ text: m.text, ids: m.tokenIds }, { text: l.text, ids: l.tokenIds });
  assert.ok(maxDiff(m.tokenLogprobs!, l.tokenLogprobs!) < 1e-4);
});

test('SIGKILL of the server mid-use: the backend restarts it and every call completes with the same scores', { timeout: 120_000 }, async () => {
  const b = await managed(uniqueName('tiny'));
  const firstPid = b.stats().pid!;
  const expected = await Promise.all(PAIRS.map(([p, c]) => inProcess.score(p, c)));
  // The first 5 calls complete, then the server is killed and 35 more are sent at once: the kill
  // lands between calls by construction (a timed kill raced the now-fast server, which had
  // answered all 40 before the fifth answer was read).
  const first = await Promise.all(Array.from({ length: 5 }, (_, i) => b.score(...PAIRS[i % PAIRS.length])));
  process.kill(firstPid, 'SIGKILL');
  const rest = await Promise.all(Array.from({ length: 35 }, (_, i) => b.score(...PAIRS[(i + 5) % PAIRS.length])));
  const results = [...first, ...rest];
  assert.equal(results.length, 40);
  results.forEach((r, i) => assert.ok(maxDiff(r.tokenLogprobs, expected[i % PAIRS.length].tokenLogprobs) < 1e-4));
  const stats = b.stats();
  assert.equal(stats.restarts, 1);
  // A live server again (its pid may be the killed one's: pid_max 32768 wraps on a busy machine).
  assert.doesNotThrow(() => process.kill(stats.pid!, 0), 'the restarted server runs');
});

test('a server that keeps dying: bounded restarts with backoff, then a clear error', { timeout: 60_000 }, async () => {
  const started = Date.now();
  await assert.rejects(
    ManagedServerBackend.start({
      server: {
        command: process.execPath,
        args: ['-e', 'console.error("CUDA out of memory (simulated)"); process.exit(3)'],
        precisionFlags: {},
        extraArgs: [],
        maxRestarts: 3,
        backoffMs: 50,
      },
      modelRef: 'none',
      model: 'dying',
      precision: 'fp16',
      gpu: 0,
    }),
    (err: Error) => /gave up after 3 restarts/.test(err.message) && /CUDA out of memory \(simulated\)/.test(err.message),
  );
  assert.ok(Date.now() - started >= 50 + 100 + 200, 'backoff doubles between restarts');

  // A leftover server on a fixed port (a SIGKILLed worker's) is not adopted.
  const leftover = await startServe({ backend: new TextGeneratorBackend() });
  try {
    await assert.rejects(
      ManagedServerBackend.start({
        server: metServe({ port: leftover.port, maxRestarts: 1, backoffMs: 10 }),
        modelRef: paths.fp32,
        model: 'x',
        precision: 'fp32',
        gpu: 'cpu',
      }),
      /already answers on 127\.0\.0\.1:\d+/,
    );
  } finally {
    await leftover.close();
  }
});

test('scoreCorpus through a worker on the managed backend writes the same logprob rows as in-process', { timeout: 240_000 }, async () => {
  const temporal: TestTemporal = await startTestTemporal();
  const duck: DuckDBInstance = await createDuckDB();
  const dataDir = join(dir, 'data');
  const local = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model: uniqueName('tiny-local') });
  const server = await managed(uniqueName('tiny-managed'));
  const cpuQueue = uniqueName('managed-cpu');
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue }),
    ...modelWorkerPlans({ dataDir, duck, backend: local, gpu: 'cpu' }),
    ...modelWorkerPlans({ dataDir, duck, backend: server, gpu: 'cpu' }),
  ];
  const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
  const running = workers.map((w) => w.run());
  try {
    const spec = parseRunSpec({
      corpus: 'managed',
      prompts: { set: 'demo', limit: 4 },
      samplesPerPrompt: 8,
      sampling: { maxTokens: 10 },
      sources: [{ kind: 'local', model: local.model, precision: 'fp32' }],
      unitSize: 16,
    });
    const collected = await temporal.client.workflow.execute(collectCorpus, {
      taskQueue: cpuQueue,
      workflowId: uniqueName('collect'),
      args: [{ spec, runId: runIdOf(spec) }],
    });
    assert.equal(collected.rows, 32);
    for (const scorer of [local, server]) {
      const r = await temporal.client.workflow.execute(scoreCorpus, {
        taskQueue: cpuQueue,
        workflowId: uniqueName('score'),
        args: [{ corpus: 'managed', scorer: { model: scorer.model, precision: 'fp32' } }],
      });
      assert.equal(r.rowsDone, 32);
    }
    const logprobs = join(kindDir(dataDir, 'managed', 'logprobs'), '*', '*', '*', 'part-*.parquet');
    const rows = await withConnection(duck, async (c) =>
      (
        await c.runAndReadAll(
          `SELECT count(*)::INT AS pairs, count(*) FILTER (WHERE a.token_ids = b.token_ids)::INT AS same_tokens,
                  max(abs(a.sum - b.sum))::DOUBLE AS worst_sum
             FROM read_parquet(${quotedString(logprobs)}, hive_partitioning = true) a
             JOIN read_parquet(${quotedString(logprobs)}, hive_partitioning = true) b USING (prompt_id, sample_index)
            WHERE a.scorer_model = ${quotedString(local.model)} AND b.scorer_model = ${quotedString(server.model)}`,
        )
      ).getRowObjects(),
    );
    assert.equal(rows[0].pairs, 32, 'one row per sample under each scorer');
    assert.equal(rows[0].same_tokens, 32);
    assert.ok(Number(rows[0].worst_sum) < 1e-3, `summed logprobs differ by ${rows[0].worst_sum}`);
  } finally {
    workers.forEach((w) => w.shutdown());
    await Promise.all(running);
    await local.close();
    await temporal.close();
    duck.closeSync();
  }
});
