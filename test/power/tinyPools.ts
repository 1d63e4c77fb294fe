import assert from 'node:assert/strict';
import type { LlamaBackend } from '../../models/llama';
import { encodeChars } from '../../stats/encode';
import type { ScoredPool } from '../../stats/mixture';
import { completionScore, RUT_SCORES, type RutScore } from '../../stats/rut';

/**
 * Pools of completions from met's tiny GGUF models, every completion scored under a scorer (token
 * logprobs and ranks, scoreSequence): what test/power/rutTiny.test.ts and bench/power/tiny.ts
 * simulate power from. Prompt p's completion s has seed seedBase + 1000 p + s (perPrompt <= 1000).
 */
export interface Pool {
  texts: string[];
  prompts: number[];
  tokenIds: number[][];
  logprobs: number[][];
  seeds: number[];
  scores: Record<RutScore, number[]>;
}

export async function samplePool(generator: LlamaBackend, scorer: LlamaBackend, seedBase: number, prompts: number, perPrompt: number): Promise<Pool> {
  if (perPrompt > 1000) throw new Error('at most 1000 completions per prompt (seeds would overlap)');
  const pool: Pool = { texts: [], prompts: [], tokenIds: [], logprobs: [], seeds: [], scores: { sum_logprob: [], mean_logprob: [], log_rank: [] } };
  for (let p = 0; p < prompts; p++) {
    const prompt = `Story ${p}: once upon a time`;
    const promptIds = scorer.tokenize(prompt);
    for (let s = 0; s < perPrompt; s++) {
      const g = await generator.generate({ prompt, maxTokens: 24, temperature: 1, topP: 1, seed: seedBase + 1000 * p + s });
      // [BOS] + prompt + completion; entry i scores token i + 1, so the completion's are from promptIds.length on.
      const scored = await scorer.scoreSequence([scorer.bosToken!, ...promptIds, ...g.tokenIds]);
      const tokens = { logprobs: scored.logprobs.slice(promptIds.length), ranks: scored.ranks.slice(promptIds.length) };
      assert.equal(tokens.logprobs.length, g.tokenIds.length);
      pool.texts.push(g.text);
      pool.prompts.push(p);
      pool.tokenIds.push(g.tokenIds);
      pool.logprobs.push(tokens.logprobs);
      pool.seeds.push(seedBase + 1000 * p + s);
      for (const score of RUT_SCORES) pool.scores[score].push(completionScore(score, tokens));
    }
  }
  return pool;
}

/** A pool as the power simulator takes it: completions as L code points, and one score per completion. */
export const scoredPool = (pool: Pool, score: RutScore, L: number, prompts: number): ScoredPool => ({
  sample: encodeChars(pool.prompts, pool.texts, L, prompts),
  scores: Float64Array.from(pool.scores[score]),
});
