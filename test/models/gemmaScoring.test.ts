/**
 * Several completions per scoring decode on a real model (Gemma 3 270M Q4_K_M, .tools/gemma/,
 * fetched by scripts/ensure-gemma.sh as in gemma.test.ts): the decode check (`met doctor --model F
 * --sequences N`) packs short sequences of uneven lengths beside its three, a KV stream each, and
 * asks several sequences per decode for exactly the reference route's numbers; repacked Q4_K's are
 * not. met's scorer keeps one sequence per decode (docs/decoding.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { before, test } from 'node:test';

const GEMMA = '.tools/gemma/gemma-3-270m-q4_k_m.gguf';

before(() => {
  if (!existsSync(GEMMA)) {
    const run = spawnSync('bash', ['scripts/ensure-gemma.sh'], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`the real-model tests need ${GEMMA}; scripts/ensure-gemma.sh failed:\n${run.stdout}\n${run.stderr}`);
  }
});

test('Gemma Q4_K_M: the decode check refuses 4 sequences per decode, a KV stream each (weights repacked: not exact)', { timeout: 300_000 }, async () => {
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
