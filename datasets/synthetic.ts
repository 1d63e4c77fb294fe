import type { SampleRow } from './schemas';

/**
 * Deterministic sample rows shaped like the sampler's (about 200-character completions from a
 * small vocabulary, 50-token lists with logprobs), for tests, benchmarks and demos. The same
 * (seed, arguments) always give the same rows.
 */
export function mulberry32(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the of and to in is was that for it with as his on be at by had are but from or have an they which one you were her all she there would ' +
  'their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two ' +
  'may then do first any my now such like our over man me even most made after also did many before must through back years where much your way'
).split(' ');

export interface SyntheticUnit {
  corpus: string;
  runId?: string;
  unitId: string;
  model: string;
  source: string;
  promptSet?: string;
  /** Prompt ids are `p<index>` for index in [firstPrompt, firstPrompt + prompts). */
  firstPrompt?: number;
  prompts: number;
  samplesPerPrompt: number;
  seed: number;
  /** Characters per completion (default 200). */
  completionChars?: number;
  /** Tokens per completion (default 50). */
  tokens?: number;
}

export function syntheticSamples(unit: SyntheticUnit): SampleRow[] {
  const rnd = mulberry32(unit.seed);
  const chars = unit.completionChars ?? 200;
  const tokens = unit.tokens ?? 50;
  const rows: SampleRow[] = [];
  const created = Date.UTC(2026, 10, 1) + unit.seed * 1000;
  const first = unit.firstPrompt ?? 0;
  for (let p = first; p < first + unit.prompts; p++) {
    for (let s = 0; s < unit.samplesPerPrompt; s++) {
      let text = '';
      while (text.length < chars) text += `${WORDS[Math.floor(rnd() * rnd() * WORDS.length)]} `;
      const tokenIds = new Array<number>(tokens);
      const tokenLogprobs = new Array<number>(tokens);
      for (let t = 0; t < tokens; t++) {
        tokenIds[t] = Math.floor(rnd() * rnd() * 32000);
        tokenLogprobs[t] = -rnd() * rnd() * 8;
      }
      rows.push({
        corpus: unit.corpus,
        runId: unit.runId ?? 'run-synthetic',
        unitId: unit.unitId,
        model: unit.model,
        source: unit.source,
        promptSet: unit.promptSet ?? 'synthetic',
        promptId: `p${p}`,
        sampleIndex: s,
        prompt: `Write a short paragraph about topic ${p}.`,
        completion: text.slice(0, chars),
        tokenIds,
        tokenLogprobs,
        finishReason: rnd() < 0.9 ? 'length' : 'stop',
        sampling: { temperature: 1, topP: 1, maxTokens: tokens, stop: [], endpoint: 'completions' },
        seed: unit.seed * 100000 + p * 1000 + s,
        providerModel: unit.model,
        requestId: `req-${unit.unitId}-${p}-${s}`,
        latencyMs: Math.round(rnd() * 5000) / 10,
        createdAt: new Date(created + p * 10 + s),
      });
    }
  }
  return rows;
}
