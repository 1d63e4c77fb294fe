/**
 * bench/score/batched: is packing several sequences into one decode exact, and is it faster?
 * For each Gemma 3 270M file, met's native scorer in every configuration of {weights repacked or
 * not} x {one KV cache shared by the sequences, or a stream per sequence} x {1, 2, 4, 8 sequences
 * per decode}, flash attention off, against
 * - the reference route (models/decodeCheck.ts: repacked, 1 sequence, batch 512): max |Δ logprob|;
 * - single-sequence scoring with the same weights (repacked or not): max |Δ| and whether bitwise equal;
 * over the decode check's fixed sequences and a realistic scoring shard (prompts of 20-40 tokens,
 * several completions of 16-48 tokens each), whose scored tokens/s it also reports.
 *   node --import tsx bench/score/batched.ts [--models q4_k_m,F32] [--sequences 1,2,4,8] [--batch 128]
 *     [--threads 1] [--repack on,off] [--prompts 4] [--completions 8] [--out FILE (default bench/out/)]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fixedSequences } from '../../models/decodeCheck';
import { quantizeGguf } from '../../models/ggufFile';
import type { GgmlType } from '../../models/quantize';
import { NativeScorer, type NativeScorerOptions, type ScoreItem } from '../../models/nativeScorer';

const arg = (name: string, fallback: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback);
const models = arg('models', 'q4_k_m,F32').split(',');
const sequenceCounts = arg('sequences', '1,2,4,8').split(',').map(Number);
const batchSize = Number(arg('batch', '128'));
const threads = Number(arg('threads', '1'));
const prompts = Number(arg('prompts', '4'));
const completions = Number(arg('completions', '8'));
const repacks = arg('repack', 'on,off')
  .split(',')
  .map((r) => r === 'on');
const out = arg('out', `bench/out/score-batched-${Date.now()}.json`);

// A seeded generator, so the shard is the same in every run.
let state = 12345;
const rand = (lo: number, hi: number) => {
  state = (state * 1103515245 + 12345) % 2 ** 31;
  return lo + (state % (hi - lo + 1));
};

async function shardOf(path: string): Promise<{ check: ScoreItem[]; shard: ScoreItem[] }> {
  const { sequences } = await fixedSequences(path, 2048);
  // The check's long sequence is a repeated text starting with BOS: cut prompts and completions from it.
  const pool = sequences[2];
  const shard: ScoreItem[] = [];
  for (let p = 0; p < prompts; p++) {
    const start = rand(1, 200);
    const prompt = [pool[0], ...pool.slice(start, start + rand(20, 40))];
    for (let c = 0; c < completions; c++) {
      const at = rand(1, pool.length - 50);
      shard.push({ tokens: [...prompt, ...pool.slice(at, at + rand(16, 48))], from: prompt.length - 1 });
    }
  }
  return { check: sequences.map((tokens) => ({ tokens, from: 0 })), shard };
}

async function score(path: string, items: ScoreItem[], options: Omit<NativeScorerOptions, 'contextSize' | 'threads'>) {
  const scorer = NativeScorer.open(path, { ...options, threads, contextSize: 2048, flashAttention: 'off', swaFull: false });
  try {
    const t0 = performance.now();
    const { logprobs } = await scorer.score(items);
    return { logprobs, seconds: (performance.now() - t0) / 1000 };
  } finally {
    scorer.close();
  }
}

const maxDiff = (a: Float64Array, b: Float64Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const GEMMA = '.tools/gemma/gemma-3-270m-q4_k_m.gguf';
const rows: Record<string, unknown>[] = [];
for (const name of models) {
  const path = `.tools/gemma/gemma-3-270m-${name}.gguf`;
  if (!existsSync(GEMMA)) throw new Error(`${GEMMA} is missing: run bash scripts/ensure-gemma.sh`);
  // Other types are made from it by met's own quantizer, as bench/power/gemma.ts does.
  if (!existsSync(path)) quantizeGguf(GEMMA, name as GgmlType, path);
  const { check, shard } = await shardOf(path);
  const scoredTokens = shard.reduce((n, it) => n + it.tokens.length - 1 - it.from, 0);
  const reference = {
    check: await score(path, check, { batchSize: 512, sequences: 1, repack: true }),
    shard: await score(path, shard, { batchSize: 512, sequences: 1, repack: true }),
  };
  console.error(
    `${name}: shard of ${shard.length} sequences, ${scoredTokens} scored tokens; reference ${(scoredTokens / reference.shard.seconds).toFixed(1)} tok/s`,
  );
  for (const repack of repacks) {
    let single: { check: Float64Array; shard: Float64Array } | undefined;
    for (const sequences of sequenceCounts) {
      for (const kvUnified of sequences === 1 ? [true] : [true, false]) {
        const config = { batchSize, sequences, repack, kvUnified };
        const got = { check: await score(path, check, config), shard: await score(path, shard, config) };
        single ??= { check: got.check.logprobs, shard: got.shard.logprobs };
        const vsSingle = Math.max(maxDiff(got.check.logprobs, single.check), maxDiff(got.shard.logprobs, single.shard));
        const row = {
          model: name,
          repack,
          kv: kvUnified ? 'shared' : 'per sequence',
          sequences,
          batchSize,
          threads,
          checkVsReference: maxDiff(got.check.logprobs, reference.check.logprobs),
          shardVsReference: maxDiff(got.shard.logprobs, reference.shard.logprobs),
          vsSingle,
          tokS: Number((scoredTokens / got.shard.seconds).toFixed(1)),
        };
        rows.push(row);
        console.error(JSON.stringify(row));
      }
    }
  }
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ batchSize, threads, prompts, completions, rows }, null, 2)}\n`);
console.table(rows);
