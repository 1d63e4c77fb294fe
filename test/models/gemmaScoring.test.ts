/**
 * Several completions per scoring decode on a real model (Gemma 3 270M, .tools/gemma/, fetched by
 * scripts/ensure-gemma.sh as in gemma.test.ts; its F32 file is made from it by met's own
 * quantizer, as bench/power/gemma.ts does): packed scores, a KV stream per sequence, equal
 * single-sequence scores of the same tokens, and the decode check (a worker's start check) refuses
 * packing that is not exact (Q4_K_M, weights repacked).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { before, test } from 'node:test';
import { quantizeGguf } from '../../models/ggufFile';
import { loadLlamaBackend } from '../../models/llama';

const GEMMA = '.tools/gemma/gemma-3-270m-q4_k_m.gguf';
const F32 = '.tools/gemma/gemma-3-270m-F32.gguf';
// Prompts of several lengths, several completions each: a scoring shard's shape.
const PROMPTS = ['The history of the city', 'To make a simple loaf of bread,'];
const COMPLETIONS = [' begins in the early Middle Ages, when farmers settled by the river.', ' grew into a busy market town.', ' mix flour, water and salt.'];
const ITEMS = PROMPTS.flatMap((prompt) => COMPLETIONS.map((completion) => ({ prompt, completion })));

before(() => {
  if (!existsSync(GEMMA)) {
    const run = spawnSync('bash', ['scripts/ensure-gemma.sh'], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`the real-model tests need ${GEMMA}; scripts/ensure-gemma.sh failed:\n${run.stdout}\n${run.stderr}`);
  }
  if (!existsSync(F32)) quantizeGguf(GEMMA, 'F32', F32);
});

test('Gemma F32: 4 sequences per scoring decode (a KV stream each) store the single-sequence scores of the same tokens', { timeout: 300_000 }, async () => {
  // One thread: llama.cpp's threads spin-wait on each other, and CI's two cores are shared.
  const base = { path: F32, precision: 'fp32' as const, model: 'gemma-3-270m', threads: 1, contextSize: 128 };
  const packed = await loadLlamaBackend({ ...base, scoringSequences: 4 });
  const single = await loadLlamaBackend(base);
  try {
    assert.deepEqual(packed.decode, { threads: 1, batchSize: 128, sequences: 4, kvUnified: false, flashAttention: 'off', swaFull: false });
    assert.equal(packed.scorerBackend, single.scorerBackend);
    const many = await packed.scoreMany(ITEMS);
    let maxDiff = 0;
    let positions = 0;
    for (const [i, { prompt, completion }] of ITEMS.entries()) {
      const alone = await single.score(prompt, completion);
      assert.deepEqual(many[i].tokenIds, alone.tokenIds);
      assert.deepEqual(many[i].tokenRanks, alone.tokenRanks, `ranks of item ${i}`);
      alone.tokenLogprobs.forEach((l, j) => (maxDiff = Math.max(maxDiff, Math.abs(l - many[i].tokenLogprobs[j]))));
      positions += alone.tokenLogprobs.length;
    }
    assert.ok(positions > 40, `${positions} scored positions`);
    // Measured: exactly 0 (docs/decoding.md); the bar is 1e-3 nats.
    console.error(`packed vs single-sequence scoring, Gemma F32: max |Δ logprob| ${maxDiff} nats over ${positions} positions`);
    assert.ok(maxDiff <= 1e-3, `max |Δ logprob| ${maxDiff} nats`);
  } finally {
    await packed.close();
    await single.close();
  }
});

test('Gemma Q4_K_M: the decode check refuses 4 sequences per scoring decode (weights repacked: not exact)', { timeout: 300_000 }, async () => {
  const { checkDecodeConfig, decodeCheckLine } = await import('../../models/decodeCheck');
  // A context of 48 keeps the check's sequences short, for time (the sliding window is gemma.test.ts's);
  // at 32 every sequence is 24-32 tokens, in shares of 8 a decode, and this file's packing is then exact.
  const config = { threads: 1, batchSize: 32, sequences: 4, kvUnified: false, flashAttention: 'off' as const, swaFull: false };
  const check = await checkDecodeConfig(GEMMA, config, 48);
  const line = decodeCheckLine(check);
  console.error(line);
  assert.equal(check.passed, false, line);
  assert.ok(check.maxDiff > 0, line);
  assert.match(line, /4 sequence\(s\) per decode \(a KV stream each\).*FAIL \(over exactly 0, several sequences per decode\)/);
  assert.ok(check.lengths.length > 3, `the short sequences are packed too: ${check.lengths.join(', ')}`);
});
