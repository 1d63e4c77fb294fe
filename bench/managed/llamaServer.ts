/**
 * bench/managed/llamaServer: issue #21's real check. llama.cpp's own `llama-server` (built by
 * `bash scripts/build-llama-server.sh`) on Gemma 3 270M Q4_K_M (`bash scripts/ensure-gemma.sh`),
 * managed by a `met worker` process (profile llama.cpp), collects SAMPLES completions through
 * collectCorpus on a real Temporal dev server; scoreCorpus then scores them under the same worker
 * (in-process llama.cpp on the same GGUF, as the profile says). Checks, against node-llama-cpp
 * in this process on the same file:
 *   - every stored token_ids is non-empty for a non-empty completion, detokenizes to the stored
 *     text, and equals the in-process tokenization of that text (counted, not assumed: a sampled
 *     token sequence need not be the tokenizer's canonical one);
 *   - the stored logprobs equal in-process scoring of (prompt, completion) to 1e-4, and the rows
 *     name their scorer backend.
 *   node --import tsx bench/managed/llamaServer.ts [--samples 100] [--tokens 16]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createDuckDB, kindDir, quotedString, withConnection } from '../../datasets';
import { JOBS } from '../../jobs';
import { loadLlamaBackend } from '../../models/llama';
import { freePort, startDevServer, stopDevServer } from '../../temporal/devServer';
import { CPU_TASK_QUEUE } from '../../temporal/queues';
import { exited, spawnMet } from '../../test/helpers/processes';

const arg = (name: string, fallback: number) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const SAMPLES = arg('samples', 100);
const TOKENS = arg('tokens', 16);
const PER_PROMPT = 10;
const GEMMA = resolve('.tools/gemma/gemma-3-270m-q4_k_m.gguf');
const SERVER = resolve('.tools/llama-server/bin/llama-server');
if (!existsSync(GEMMA)) throw new Error(`${GEMMA} is missing: run bash scripts/ensure-gemma.sh`);
if (!existsSync(SERVER)) throw new Error(`${SERVER} is missing: run bash scripts/build-llama-server.sh`);
// llama-server prints its version on stderr.
const version = spawnSync(SERVER, ['--version'], { encoding: 'utf8' });
const serverVersion = `${version.stdout}${version.stderr}`.trim();

const dir = mkdtempSync(join(tmpdir(), 'met-llama-server-'));
const dataDir = join(dir, 'data');
const port = await freePort();
await startDevServer({ dataDir: join(dir, 'temporal'), port, headless: true });
const address = `127.0.0.1:${port}`;
const common = ['--data', dataDir, '--address', address];
const model = 'gemma3-270m';
writeFileSync(
  join(dir, 'worker.yaml'),
  [
    'models:',
    `  - name: ${model}`,
    '    precision: nf4',
    `    path: ${GEMMA}`,
    '    backend: managed',
    '    server:',
    '      profile: llama.cpp',
    `      command: ${SERVER}`,
    '      startTimeoutMs: 300000',
  ].join('\n'),
);
writeFileSync(
  join(dir, 'spec.yaml'),
  [
    'corpus: gemma-managed',
    `prompts: { set: demo, limit: ${Math.ceil(SAMPLES / PER_PROMPT)} }`,
    `samplesPerPrompt: ${PER_PROMPT}`,
    `sampling: { maxTokens: ${TOKENS}, temperature: 1, topP: 1 }`,
    'sources:',
    `  - { kind: local, model: ${model}, precision: nf4 }`,
  ].join('\n'),
);
const worker = spawnMet(['worker', '--config', join(dir, 'worker.yaml'), '--queue', CPU_TASK_QUEUE, ...common]);
const started = performance.now();
const connection = await Connection.connect({ address });
const client = new Client({ connection, namespace: 'met' });
const duck = await createDuckDB();
const scorer = await loadLlamaBackend({ path: GEMMA, precision: 'nf4', model: 'gemma-in-process', threads: 1 });
try {
  const collect = spawnMet(['collect', join(dir, 'spec.yaml'), '--wait', ...common]);
  const code = await exited(collect);
  if (code !== 0) throw new Error(`met collect exited ${code}:\n${collect.output()}\nworker:\n${worker.output()}`);
  const collectSeconds = (performance.now() - started) / 1000;
  const t0 = performance.now();
  const scored = await (
    await JOBS.scoreCorpus.start(
      client,
      { taskQueue: CPU_TASK_QUEUE, workflowId: `score-${Date.now()}` },
      { corpus: 'gemma-managed', scorer: { model, precision: 'nf4' } },
    )
  ).result();
  const scoreSeconds = (performance.now() - t0) / 1000;

  const samples = join(kindDir(dataDir, 'gemma-managed', 'samples'), '*', '*', 'part-*.parquet');
  const logprobs = join(kindDir(dataDir, 'gemma-managed', 'logprobs'), '*', '*', '*', 'part-*.parquet');
  const rows = await withConnection(duck, async (c) =>
    (
      await c.runAndReadAll(
        `SELECT s.prompt, s.completion, s.token_ids, l.token_ids AS scored_ids, l.token_logprobs, l.scorer_backend
         FROM read_parquet(${quotedString(samples)}, hive_partitioning = true) s
         JOIN read_parquet(${quotedString(logprobs)}, hive_partitioning = true) l USING (prompt_id, sample_index)
         ORDER BY prompt_id, sample_index`,
      )
    ).getRowObjectsJson(),
  );
  let empty = 0;
  let detokenized = 0;
  let canonical = 0;
  let maxScoreGap = 0;
  const backends = new Set<string>();
  for (const row of rows) {
    const ids = (row.token_ids as number[]).map(Number);
    const text = String(row.completion);
    if (ids.length === 0 && text !== '') empty++;
    if (scorer.detokenize(ids) === text) detokenized++;
    if (JSON.stringify(scorer.tokenize(text)) === JSON.stringify(ids)) canonical++;
    const again = await scorer.score(String(row.prompt), text);
    const stored = (row.token_logprobs as number[]).map(Number);
    if (stored.length !== again.tokenLogprobs.length) maxScoreGap = Infinity;
    else for (let i = 0; i < stored.length; i++) maxScoreGap = Math.max(maxScoreGap, Math.abs(stored[i] - again.tokenLogprobs[i]));
    backends.add(String(row.scorer_backend));
  }
  const result = {
    bench: 'managed/llamaServer',
    server: serverVersion.split('\n').slice(0, 2).join(' '),
    model: GEMMA,
    samples: rows.length,
    collectSeconds,
    scoreSeconds,
    scored,
    emptyTokenIds: empty,
    detokenizeEqualsText: detokenized,
    tokenizeEqualsStoredIds: canonical,
    maxLogprobGapVsInProcess: maxScoreGap,
    scorerBackends: [...backends],
  };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync('bench/out', { recursive: true });
  const out = `bench/out/managed-llama-server-${Date.now()}.json`;
  writeFileSync(out, JSON.stringify(result, null, 2));
  console.log(`wrote ${out}`);
  if (rows.length !== SAMPLES || empty > 0 || maxScoreGap > 1e-4) process.exitCode = 1;
} finally {
  worker.kill('SIGTERM');
  await exited(worker);
  await scorer.close();
  duck.closeSync();
  await connection.close();
  await stopDevServer(join(dir, 'temporal'));
  rmSync(dir, { recursive: true, force: true });
}
