/**
 * bench/score: tokens scored per second by met's LlamaBackend (the scoring worker's path:
 * tokenize, teacher-forced evaluation, full-vocabulary log-softmax in float64) against
 * node-llama-cpp's raw evaluation of the same tokens in the same run (controlledEvaluate of the
 * same sequences, logits requested for the same positions, no post-processing).
 *   node --import tsx bench/score/score.ts [--texts 200]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type Token } from 'node-llama-cpp';
import { loadLlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';

const texts = Number(process.argv[process.argv.indexOf('--texts') + 1] || 200);
const dir = mkdtempSync(join(tmpdir(), 'met-bench-score-'));
try {
  const paths = writeTinyModels(dir);
  const backend = await loadLlamaBackend({ path: paths.fp32, precision: 'fp32' });
  const items: { prompt: string; completion: number[] }[] = [];
  for (let i = 0; i < texts; i++) {
    const prompt = `Prompt ${i % 10}:`;
    items.push({ prompt, completion: (await backend.generate({ prompt, maxTokens: 32, temperature: 1, topP: 1, seed: i })).tokenIds });
  }
  const tokens = items.reduce((n, it) => n + it.completion.length, 0);

  let t0 = performance.now();
  for (const it of items) await backend.scoreTokens(it.prompt, it.completion);
  const metSeconds = (performance.now() - t0) / 1000;

  // Raw: the same sequences through node-llama-cpp directly, same context settings.
  const llama = await getLlama({ gpu: false, build: 'never' });
  const model = await llama.loadModel({ modelPath: paths.fp32 });
  const context = await model.createContext({ contextSize: 512, sequences: 1, threads: 1 });
  const sequence = context.getSequence();
  const bos = (model.tokens.bos ?? 1) as number;
  t0 = performance.now();
  for (const it of items) {
    const promptTokens = [bos, ...model.tokenize(it.prompt)];
    const all = [...promptTokens, ...it.completion].slice(0, -1);
    await sequence.clearHistory();
    await sequence.controlledEvaluate(
      all.map((t, i) => (i >= promptTokens.length - 1 ? [t as Token, { generateNext: { logits: true } }] : (t as Token))) as never,
    );
  }
  const rawSeconds = (performance.now() - t0) / 1000;
  await context.dispose();
  await model.dispose();
  await backend.close();

  const report = {
    bench: 'score',
    texts,
    tokens,
    metTokensPerSecond: Math.round(tokens / metSeconds),
    rawTokensPerSecond: Math.round(tokens / rawSeconds),
    ratio: Number((rawSeconds / metSeconds).toFixed(3)),
  };
  console.table([report]);
  mkdirSync('bench/out', { recursive: true });
  writeFileSync(`bench/out/score-${Date.now()}.json`, JSON.stringify(report, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
