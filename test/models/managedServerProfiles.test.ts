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
import { ManagedServerBackend, serverCommand } from '../../models/managedServer';
import { inferProfile, resolveServerSpec, type ManagedServerSpec, type ServerProfileName } from '../../config/serverProfiles';
import { writeTinyModels } from '../../models/tiny';
import { type ApiStyle, startServe } from '../../serve/server';
import { PROJECT_ROOT } from '../../temporal/binary';
import { modelTaskQueue } from '../../temporal/queues';
import { collectCorpus } from '../../workflows/collectCorpus';
import { scoreCorpus } from '../../workflows/scoreCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { modelWorkerPlans } from '../../workers/model';
import { planIdentity } from '../../workers/run';
import { startTestTemporal, uniqueName } from '../helpers/temporal';

/**
 * Server profiles of the managed backend (vllm, llama.cpp, openai-compatible) against `met serve`
 * in each API style: the llama.cpp profile samples through llama-server's /completion and scores
 * in-process; no vLLM flag reaches another profile; a tokenize answer with no tokens is an error;
 * a sampling-only profile refuses scoring when it starts.
 */
const dir = mkdtempSync(join(tmpdir(), 'met-profiles-'));
let paths: Record<string, string>;
let inProcess: LlamaBackend;
const opened: ManagedServerBackend[] = [];

/** `met serve` (the real CLI, a child process) in one API style, managed under one profile. */
const metServe = (apiStyle: ApiStyle, profile: ServerProfileName, extra: Partial<ManagedServerSpec> = {}): ManagedServerSpec =>
  ({
    profile,
    command: process.execPath,
    args: [join(PROJECT_ROOT, 'bin', 'met.js'), 'serve', '--model', '{model}', '--port', '{port}', '--precision', '{precision}', '--api-style', apiStyle],
    // met serve takes no server flags (the vllm profile's --dtype would stop it).
    precisionFlags: {},
    extraArgs: [],
    backoffMs: 100,
    startTimeoutMs: 60_000,
    ...extra,
  }) as ManagedServerSpec;

async function managed(name: string, server: ManagedServerSpec): Promise<ManagedServerBackend> {
  const b = await ManagedServerBackend.start({ server, modelRef: paths.fp32, model: name, precision: 'fp32', gpu: 'cpu' });
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
];

function maxDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return Math.max(0, ...a.map((v, i) => Math.abs(v - b[i])));
}

test('profiles: each owns its flags; no vLLM flag reaches llama-server; old configs stay vllm; unknown servers are sampling only', () => {
  const at = { modelRef: '/models/gemma-3-270m-Q4_K_M.gguf', model: 'gemma', precision: 'nf4' as const, gpu: 0, port: 8123 };
  // A config written before profiles (command vllm, or python -m vllm...) keeps vLLM's flags.
  assert.equal(inferProfile({ command: 'vllm' }), 'vllm');
  assert.equal(inferProfile({ command: '/usr/bin/python3', args: ['-m', 'vllm.entrypoints.openai.api_server'] }), 'vllm');
  assert.equal(inferProfile({ command: '/opt/llama.cpp/build/bin/llama-server' }), 'llama.cpp');
  assert.equal(inferProfile({ command: 'ollama' }), 'openai-compatible');
  const vllm = serverCommand({ command: 'vllm' }, at);
  assert.ok(vllm.args.join(' ').includes('--dtype float16 --quantization bitsandbytes --no-enable-prefix-caching'));

  const llama = serverCommand({ command: '.tools/llama-server/bin/llama-server' }, at);
  assert.deepEqual(llama.args, ['-m', at.modelRef, '--host', '127.0.0.1', '--port', '8123', '--alias', 'gemma', '-np', '1']);
  assert.equal(llama.env.CUDA_VISIBLE_DEVICES, '0');
  for (const p of ['fp32', 'fp16', 'int8', 'nf4'] as const) {
    const args = serverCommand({ command: 'llama-server' }, { ...at, precision: p }).args.join(' ');
    assert.doesNotMatch(args, /--dtype|--quantization|--no-enable-prefix-caching|--served-model-name/, p);
  }
  // Only command/args set with an explicit profile: still no vLLM flag.
  assert.doesNotMatch(
    serverCommand({ command: 'my-llama', profile: 'llama.cpp', args: ['-m', '{model}', '--port', '{port}'] }, at).args.join(' '),
    /--dtype|prefix/,
  );

  const resolved = {
    vllm: resolveServerSpec({ command: 'vllm' }),
    llama: resolveServerSpec({ command: 'llama-server' }),
    other: resolveServerSpec({ command: 'ollama', args: ['serve'] }),
  };
  assert.deepEqual([resolved.vllm.scoring, resolved.llama.scoring, resolved.other.scoring], ['auto', 'in-process', 'none']);
  assert.deepEqual([resolved.vllm.healthPath, resolved.llama.healthPath, resolved.other.healthPath], ['/health', '/health', '/v1/models']);
  assert.deepEqual(resolved.other.extraArgs, []);

  // Scoring a profile cannot do: refused when the config is read, with what to do instead.
  assert.throws(
    () => resolveServerSpec({ command: 'ollama', scoring: 'auto' }),
    /scoring 'auto' is refused: profile openai-compatible is sampling only.*inferred from command 'ollama'.*scoring: none/s,
  );
  assert.throws(() => resolveServerSpec({ command: 'llama-server', scoring: 'echo' }), /profile llama\.cpp scores with in-process \(or none\)/);
  const bad = WorkerConfig.safeParse({
    models: [{ name: 'm', precision: 'fp16', path: 'x', backend: 'managed', server: { command: 'ollama', scoring: 'prompt_logprobs' } }],
  });
  assert.equal(bad.success, false);
  assert.match(bad.error.issues[0].message, /sampling only/);
  assert.deepEqual(bad.error.issues[0].path, ['models', 0, 'server', 'scoring']);
  assert.equal(
    WorkerConfig.safeParse({ models: [{ name: 'm', precision: 'nf4', path: 'x.gguf', backend: 'managed', server: { command: 'llama-server' } }] }).success,
    true,
  );
});

test("met serve --api-style llama.cpp answers llama-server's routes and shapes; vLLM style gives decoded token text for sampled logprobs", async () => {
  const llama = await startServe({ backend: inProcess, apiStyle: 'llama.cpp' });
  const vllm = await startServe({ backend: inProcess });
  const base = (s: { url: string }) => s.url.replace(/\/v1$/, '');
  const call = async (s: { url: string }, path: string, body?: unknown, status = 200) => {
    const res = await fetch(
      `${base(s)}${path}`,
      body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    );
    assert.equal(res.status, status, `${path}: ${res.status}`);
    return res.json() as Promise<Record<string, any>>;
  };
  try {
    assert.deepEqual(await call(llama, '/health'), { status: 'ok' });
    assert.equal((await call(llama, '/props')).default_generation_settings.n_ctx, inProcess.contextSize);
    const text = 'The old man said';
    const ids = inProcess.tokenize(text);
    assert.deepEqual((await call(llama, '/tokenize', { content: text })).tokens, ids, 'add_special defaults to false');
    assert.deepEqual((await call(llama, '/tokenize', { content: text, add_special: true })).tokens, [inProcess.bosToken, ...ids]);
    assert.deepEqual((await call(llama, '/tokenize', { content: 'ab', with_pieces: true })).tokens[0], {
      id: inProcess.tokenize('ab')[0],
      piece: inProcess.detokenize([inProcess.tokenize('ab')[0]]),
    });
    assert.deepEqual(
      await call(llama, '/tokenize', { prompt: text, add_special_tokens: false }),
      { tokens: [] },
      "vLLM's body gets what llama-server gives it: no tokens",
    );
    assert.deepEqual(await call(llama, '/detokenize', { tokens: ids }), { content: text });

    const request = { prompt: 'Once upon a time', maxTokens: 12, temperature: 1, topP: 0.95, seed: 7, logprobs: true };
    const direct = await inProcess.generate(request);
    const native = await call(llama, '/completion', {
      prompt: request.prompt,
      n_predict: 12,
      temperature: 1,
      top_p: 0.95,
      seed: 7,
      n_probs: 1,
      return_tokens: true,
      cache_prompt: false,
      samplers: ['temperature', 'top_p'],
    });
    assert.equal(native.content, direct.text);
    assert.deepEqual(native.tokens, direct.tokenIds);
    assert.equal(native.stop_type, direct.finishReason === 'length' ? 'limit' : 'eos');
    assert.equal(native.tokens_evaluated, 1 + inProcess.tokenize(request.prompt).length);
    assert.deepEqual(
      native.completion_probabilities.map((p: { id: number }) => p.id),
      direct.tokenIds,
    );
    assert.ok(
      maxDiff(
        native.completion_probabilities.map((p: { logprob: number }) => p.logprob),
        direct.tokenLogprobs!,
      ) < 1e-9,
    );
    assert.deepEqual((await call(llama, '/completion', { prompt: request.prompt, n_predict: 4, seed: 7 })).tokens, [], 'tokens only with return_tokens');

    // OpenAI routes as llama-server answers them: echo ignored, no token_ids, logprobs with ids.
    const oai = (
      await call(llama, '/v1/completions', {
        prompt: request.prompt,
        max_tokens: 12,
        temperature: 1,
        top_p: 0.95,
        seed: 7,
        echo: true,
        logprobs: 1,
        samplers: ['temperature', 'top_p'],
      })
    ).choices[0];
    assert.equal(oai.text, direct.text, 'echo is ignored');
    assert.equal(oai.token_ids, undefined);
    assert.deepEqual(
      oai.logprobs.content.map((t: { id: number }) => t.id),
      direct.tokenIds,
    );
    assert.equal(oai.logprobs.content.map((t: { token: string }) => t.token).join(''), direct.text);
    const chat = await call(llama, '/v1/chat/completions', { messages: [{ role: 'user', content: 'Hello' }], max_tokens: 5, seed: 1, logprobs: true });
    assert.equal(chat.object, 'chat.completion');
    assert.equal(typeof chat.choices[0].message.content, 'string');
    assert.ok(chat.choices[0].logprobs.content.every((t: { id: unknown; token: unknown }) => Number.isInteger(t.id) && typeof t.token === 'string'));

    // vLLM style: sampled tokens' logprobs name the decoded token text (as echoed ones do), not the id.
    const sampled = (await call(vllm, '/v1/completions', { prompt: request.prompt, max_tokens: 12, temperature: 1, top_p: 0.95, seed: 7, logprobs: 0 }))
      .choices[0];
    assert.deepEqual(sampled.token_ids, direct.tokenIds);
    assert.deepEqual(
      sampled.logprobs.tokens,
      direct.tokenIds.map((id) => inProcess.detokenize([id])),
    );
    const echoed = (
      await call(vllm, '/v1/completions', { prompt: request.prompt, max_tokens: 12, temperature: 1, top_p: 0.95, seed: 7, logprobs: 0, echo: true })
    ).choices[0];
    assert.deepEqual(echoed.logprobs.tokens.slice(-sampled.logprobs.tokens.length), sampled.logprobs.tokens, 'echo and no echo name the sampled tokens alike');
    const vchat = await call(vllm, '/v1/chat/completions', { messages: [{ role: 'user', content: 'Hello' }], max_tokens: 5, seed: 1, logprobs: true });
    assert.deepEqual(
      vchat.choices[0].logprobs.content.map((t: { token: string }) => t.token),
      vchat.choices[0].token_ids.map((id: number) => inProcess.detokenize([id])),
    );
  } finally {
    await llama.close();
    await vllm.close();
  }
});

test(
  'llama.cpp profile against met serve --api-style llama.cpp: samples like in-process, scores in-process, restarts after SIGKILL',
  { timeout: 180_000 },
  async () => {
    const b = await managed(uniqueName('tiny-llama'), metServe('llama.cpp', 'llama.cpp'));
    const stats = b.stats();
    assert.equal(stats.profile, 'llama.cpp');
    assert.match(stats.scorerBackend, /^llama\.cpp in-process/);
    assert.equal(await b.detokenize(inProcess.tokenize('the river')), 'the river');

    const requests = [0, 1, 2, 3].map((seed) => ({
      prompt: PAIRS[seed % PAIRS.length][0] || 'A',
      maxTokens: 10,
      temperature: 1,
      topP: 0.95,
      seed,
      logprobs: true,
    }));
    for (const request of requests) {
      const [m, l] = [await b.generate(request), await inProcess.generate(request)];
      assert.ok(m.tokenIds && m.tokenIds.length > 0 && m.text.length > 0, 'non-empty token ids');
      assert.deepEqual({ text: m.text, ids: m.tokenIds }, { text: l.text, ids: l.tokenIds });
      assert.equal(inProcess.detokenize(m.tokenIds), m.text);
      assert.ok(maxDiff(m.tokenLogprobs!, l.tokenLogprobs!) < 1e-4);
    }
    // Without the in-process scorer, the sampled tokens' logprobs are the server's (n_probs).
    const samplingOnly = await managed(uniqueName('tiny-llama-nprobs'), metServe('llama.cpp', 'llama.cpp', { scoring: 'none' }));
    const [viaServer, direct] = [await samplingOnly.generate(requests[1]), await inProcess.generate(requests[1])];
    assert.deepEqual(viaServer.tokenIds, direct.tokenIds);
    assert.ok(maxDiff(viaServer.tokenLogprobs!, direct.tokenLogprobs!) < 1e-4);
    await assert.rejects(samplingOnly.score('a', 'b'), /sampling only/);
    await samplingOnly.close();

    // A stop word: the text is cut, and the ids are the cut text's tokens (from the server's /tokenize).
    const stopped = await b.generate({ ...requests[0], maxTokens: 30, stop: [' '], logprobs: false });
    assert.ok(!stopped.text.includes(' '));
    if (stopped.text) assert.deepEqual(stopped.tokenIds, inProcess.tokenize(stopped.text));

    for (const [prompt, completion] of PAIRS) {
      const [m, l] = [await b.score(prompt, completion), await inProcess.score(prompt, completion)];
      assert.deepEqual(m.tokenIds, l.tokenIds);
      assert.ok(maxDiff(m.tokenLogprobs, l.tokenLogprobs) < 1e-4);
    }

    const firstPid = b.stats().pid!;
    const expected = await Promise.all(requests.map((r) => inProcess.generate(r)));
    let done = 0;
    const calls = Array.from({ length: 24 }, (_, i) =>
      b.generate(requests[i % requests.length]).then((r) => {
        if (++done === 4) process.kill(firstPid, 'SIGKILL');
        return r;
      }),
    );
    const results = await Promise.all(calls);
    results.forEach((r, i) => assert.deepEqual(r.tokenIds, expected[i % requests.length].tokenIds));
    // One restart, and a live server again. (Not "a new pid": with pid_max 32768 and a busy machine
    // the kernel can hand the new server the number the killed one had.)
    // The kill can land after the last call returned (a fast tiny model): the restart then follows it.
    for (let i = 0; i < 100 && b.stats().restarts === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(b.stats().restarts, 1);
    // The count moves when the restart begins; a call waits for the new server, which then runs.
    assert.deepEqual((await b.generate(requests[0])).tokenIds, expected[0].tokenIds);
    assert.equal(b.stats().restarts, 1);
    assert.ok(b.stats().pid !== undefined && isAlive(b.stats().pid!), 'the restarted server runs');
  },
);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a tokenize answer with no tokens is an error, not data; a sampling-only profile refuses scoring at start', { timeout: 120_000 }, async () => {
  // vLLM's protocol spoken to llama-server: 200 {tokens: []}. Nothing is returned to be stored.
  const mismatched = await managed(uniqueName('tiny-mismatch'), metServe('llama.cpp', 'vllm'));
  await assert.rejects(
    mismatched.generate({ prompt: 'Once upon a time', maxTokens: 8, temperature: 1, topP: 1, seed: 1 }),
    /\/tokenize gave no tokens for a non-empty text.*profile vllm/s,
  );
  await assert.rejects(mismatched.score('Once upon a time', ' there was'), /gave no tokens for a non-empty text/);

  // openai-compatible: asked to score, it does not start (and spawns nothing).
  const started = Date.now();
  await assert.rejects(
    ManagedServerBackend.start({
      server: { ...metServe('vllm', 'openai-compatible'), scoring: 'auto' },
      modelRef: paths.fp32,
      model: 'x',
      precision: 'fp32',
      gpu: 'cpu',
    }),
    /scoring 'auto' is refused: profile openai-compatible is sampling only/,
  );
  assert.ok(Date.now() - started < 2_000, 'refused before any server start');

  // Sampling only: ids when the server returns them, none (null, never []) when it does not.
  const withIds = await managed(uniqueName('tiny-oai'), metServe('vllm', 'openai-compatible'));
  const request = { prompt: 'Once upon a time', maxTokens: 8, temperature: 1, topP: 1, seed: 3 };
  const direct = await inProcess.generate(request);
  assert.deepEqual((await withIds.generate(request)).tokenIds, direct.tokenIds);
  assert.equal(withIds.stats().scorerBackend, 'none');
  await assert.rejects(withIds.score('a', 'b'), /sampling only/);
  const noIds = await managed(uniqueName('tiny-oai-llama'), metServe('llama.cpp', 'openai-compatible'));
  const g = await noIds.generate(request);
  // An OpenAI-style request leaves llama-server's own sampler defaults on (top-k 40, min-p 0.05).
  assert.equal(g.text, (await inProcess.generate({ ...request, topK: 40, minP: 0.05 })).text);
  assert.equal(g.tokenIds, null);
});

test(
  'a managed collection per API style stores non-empty token ids equal to in-process ones; llama.cpp scoring rows equal in-process',
  { timeout: 300_000 },
  async () => {
    const temporal = await startTestTemporal();
    const duck: DuckDBInstance = await createDuckDB();
    const dataDir = join(dir, 'data');
    const backends = {
      vllm: await managed(uniqueName('tiny-vllm'), metServe('vllm', 'vllm')),
      llama: await managed(uniqueName('tiny-llamacpp'), metServe('llama.cpp', 'llama.cpp')),
    };
    const local = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32', model: uniqueName('tiny-local') });
    const cpuQueue = uniqueName('profiles-cpu');
    const plans = [
      cpuWorkerPlan({ dataDir, duck, taskQueue: cpuQueue }),
      ...[local, backends.vllm, backends.llama].flatMap((backend) => modelWorkerPlans({ dataDir, duck, backend, gpu: 'cpu' })),
    ];
    // Each worker with the identity met worker gives it (workers/run.ts): /health and met fleet read it.
    const workers = await Promise.all(
      plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, identity: planIdentity(p, dataDir), ...p.options })),
    );
    const running = workers.map((w) => w.run());
    try {
      const sampling = { maxTokens: 10, temperature: 1, topP: 0.95 };
      const spec = parseRunSpec({
        corpus: 'profiles',
        prompts: { set: 'demo', limit: 3 },
        samplesPerPrompt: 4,
        sampling,
        sources: [backends.vllm, backends.llama].map((b) => ({ kind: 'local', model: b.model, precision: 'fp32' })),
        unitSize: 6,
      });
      const collected = await temporal.client.workflow.execute(collectCorpus, {
        taskQueue: cpuQueue,
        workflowId: uniqueName('collect'),
        args: [{ spec, runId: runIdOf(spec) }],
      });
      assert.equal(collected.rows, 24);
      const samples = join(kindDir(dataDir, 'profiles', 'samples'), '*', '*', 'part-*.parquet');
      const rows = await withConnection(duck, async (c) =>
        (
          await c.runAndReadAll(
            `SELECT model, prompt, seed::BIGINT AS seed, completion, token_ids FROM read_parquet(${quotedString(samples)}, hive_partitioning = true) ORDER BY model, prompt_id, sample_index`,
          )
        ).getRowObjectsJson(),
      );
      assert.equal(rows.length, 24);
      let nonEmpty = 0;
      for (const row of rows) {
        const ids = (row.token_ids as number[]).map(Number);
        const again = await inProcess.generate({ prompt: String(row.prompt), ...sampling, seed: Number(row.seed) });
        assert.ok(ids.length > 0 || row.completion === '', `${row.model}: empty token ids stored for '${row.completion}'`);
        if (ids.length > 0) nonEmpty++;
        assert.deepEqual(ids, again.tokenIds, `${row.model}: stored ids are the in-process sample's`);
        assert.equal(inProcess.detokenize(ids), row.completion);
      }
      assert.ok(nonEmpty >= 20, `${nonEmpty} of 24 samples have tokens`);

      // The worker says who scores for the llama.cpp profile where /health looks: its poller identity on the model queue.
      const described = await temporal.client.workflowService.describeTaskQueue({
        namespace: temporal.namespace,
        taskQueue: { name: modelTaskQueue(backends.llama.model, 'fp32') },
        taskQueueType: 2,
      });
      assert.match(
        (described.pollers ?? []).map((p) => p.identity).join('\n'),
        /scorer: llama\.cpp in-process \(CPU, flash attention off, 1 sequence per decode\)/,
      );

      // Scoring under the llama.cpp profile (in-process llama.cpp) equals the in-process worker's rows.
      for (const scorer of [local, backends.llama]) {
        const r = await temporal.client.workflow.execute(scoreCorpus, {
          taskQueue: cpuQueue,
          workflowId: uniqueName('score'),
          args: [{ corpus: 'profiles', scorer: { model: scorer.model, precision: 'fp32' } }],
        });
        assert.equal(r.rowsDone, 24);
      }
      const logprobs = join(kindDir(dataDir, 'profiles', 'logprobs'), '*', '*', '*', 'part-*.parquet');
      const cmp = await withConnection(duck, async (c) =>
        (
          await c.runAndReadAll(
            `SELECT count(*)::INT AS pairs, count(*) FILTER (WHERE a.token_ids = b.token_ids)::INT AS same_tokens,
                  max(abs(a.sum - b.sum))::DOUBLE AS worst_sum,
                  count(*) FILTER (WHERE a.scorer_backend = b.scorer_backend AND b.scorer_backend = 'llama.cpp in-process (CPU, flash attention off, 1 sequence per decode)')::INT AS recorded
             FROM read_parquet(${quotedString(logprobs)}, hive_partitioning = true) a
             JOIN read_parquet(${quotedString(logprobs)}, hive_partitioning = true) b USING (model, prompt_id, sample_index)
            WHERE a.scorer_model = ${quotedString(local.model)} AND b.scorer_model = ${quotedString(backends.llama.model)}`,
          )
        ).getRowObjects(),
      );
      assert.equal(cmp[0].pairs, 24);
      assert.equal(cmp[0].same_tokens, 24);
      assert.ok(Number(cmp[0].worst_sum) < 1e-4, `summed logprobs differ by ${cmp[0].worst_sum}`);
      assert.equal(cmp[0].recorded, 24, "both record one decode route: the llama.cpp profile scores in-process, with the in-process worker's route");
    } finally {
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
      await local.close();
      await temporal.close();
      duck.closeSync();
    }
  },
);
