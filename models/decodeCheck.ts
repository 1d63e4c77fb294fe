import { statSync } from 'node:fs';
import { NativeScorer, decodeConfigLabel, type NativeScorerOptions } from './nativeScorer';
import { NativeGenerator, type NativeGeneratorOptions } from './nativeGenerator';

/**
 * The batch-invariance check (docs/decoding.md). Stored logprobs must not depend on how met packed
 * its decodes, or a reference scored one way and an endpoint served another differ by met's own
 * doing. So a model worker, before it serves, scores a few fixed sequences (one longer than the
 * model's sliding window) with its own decode configuration and with the reference route (one
 * sequence per decode, flash attention off, no full sliding-window cache, batch 512), and compares:
 * within 1e-3 nats at every position it passes (exactly equal with several sequences per decode). Measured on Gemma 3 270M with this llama.cpp (CPU):
 * batch 64, 128 or 512 with flash attention off are exact; flash attention on (llama.cpp's 'auto'
 * picks it on the CPU) moves logprobs by 0.35-0.48 nats; several sequences sharing a KV cache by
 * 0.1-1.7; a KV stream each: 0.07-0.49 for repacked Q4_K_M, and for F32 at 4 sequences 0 here but
 * 3.8e-3 on a shard the check does not hold, so met's scorer never packs (docs/decoding.md).
 */
export type DecodeConfig = Required<Pick<NativeScorerOptions, 'threads' | 'batchSize' | 'sequences' | 'kvUnified' | 'flashAttention' | 'swaFull'>>;

export const REFERENCE_DECODE: Omit<DecodeConfig, 'threads'> = { batchSize: 512, sequences: 1, kvUnified: true, flashAttention: 'off', swaFull: false };

/** met's decode configuration unless a worker config says otherwise: the reference route's settings at the worker's batch size. */
export const DEFAULT_DECODE: Omit<DecodeConfig, 'threads' | 'batchSize'> = { sequences: 1, kvUnified: true, flashAttention: 'off', swaFull: false };

export const DECODE_TOLERANCE = 1e-3;

/**
 * Several sequences per decode must give the reference route's numbers exactly, not within
 * DECODE_TOLERANCE: packing is what must never move a stored number, and a packed route that is
 * merely close showed tenths of a nat on sequences the check did not hold (Gemma Q4_K_M repacked,
 * a KV stream per sequence: 4.5e-5 on the check's three sequences, 0.30 on short ones). Even
 * exactly 0 here does not prove a shard exact (docs/decoding.md): `met doctor` reports, met does not pack.
 */
export function toleranceOf(config: Pick<DecodeConfig, 'sequences'>): number {
  return config.sequences > 1 ? 0 : DECODE_TOLERANCE;
}

export interface DecodeCheck {
  passed: boolean;
  /** Largest |logprob difference| in nats over all scored positions. */
  maxDiff: number;
  positions: number;
  /** Lengths of the fixed sequences (the last one past the sliding window, when the model has one). */
  lengths: number[];
  slidingWindow: number | null;
  config: DecodeConfig;
  seconds: number;
}

/** The fixed sequences: a text in the file's own vocabulary, cut to a short, a medium and a long length (and six short ones when `packed`). */
export async function fixedSequences(path: string, contextSize: number, packed = false): Promise<{ sequences: number[][]; slidingWindow: number | null }> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const vocab = await llama.loadModel({ modelPath: path, vocabOnly: true });
  try {
    const metadata = vocab.fileInfo.metadata as unknown as Record<string, Record<string, { sliding_window?: number } | undefined> | undefined> & {
      general?: { architecture?: string };
    };
    const arch = metadata.general?.architecture ?? '';
    const window = Number(metadata[arch]?.attention?.sliding_window ?? 0) || null;
    const text =
      'The history of the city begins in the early Middle Ages, when a small group of farmers settled on the banks of the river. Over the following centuries the settlement grew into a busy market town, and by the fourteenth century it had become one of the most important trading centres of the region. ';
    const bos = vocab.tokens.bos;
    const body = vocab.tokenize(text) as number[];
    const long = Math.min(contextSize, Math.max(600, (window ?? 0) + 100));
    const cut = (n: number, skip = 0) => {
      const out: number[] = [];
      while (out.length < n + skip) out.push(...body);
      return [...(bos === null ? [] : [bos as number]), ...out.slice(skip, skip + n)].slice(0, n);
    };
    // With several sequences per decode, a scoring shard's shape too (short sequences of several
    // lengths, each from another offset), so that sequences share decodes at different positions.
    const short = packed ? [37, 52, 45, 61, 29, 70].map((n, i) => cut(Math.min(n, long), 7 * i + 3)) : [];
    return { sequences: [cut(Math.min(24, long)), cut(Math.min(150, long)), cut(long), ...short], slidingWindow: window };
  } finally {
    await vocab.dispose();
  }
}

/** Scores the fixed sequences with `config` and with the reference route; passes within DECODE_TOLERANCE. */
export async function checkDecodeConfig(path: string, config: DecodeConfig, contextSize = 2048): Promise<DecodeCheck> {
  return (await checkDecodeConfigs(path, [config], contextSize))[0];
}

interface Reference {
  sequences: number[][];
  slidingWindow: number | null;
  logprobs: Float64Array;
}

/**
 * The reference route's scores, once per process for a file, thread count and context size: the
 * route is fixed, so a worker that falls back to another configuration (workers/plans.ts) compares
 * it with the scores it already has instead of scoring the reference again.
 */
const references = new Map<string, Promise<Reference>>();

function referenceFor(path: string, threads: number, contextSize: number, packed: boolean): { reference: Promise<Reference>; cached: boolean } {
  const { size, mtimeMs } = statSync(path);
  const key = JSON.stringify([path, size, mtimeMs, threads, contextSize, packed]);
  const known = references.get(key);
  if (known) return { reference: known, cached: true };
  const reference = (async () => {
    const { sequences, slidingWindow } = await fixedSequences(path, contextSize, packed);
    const logprobs = await scoreWith(path, sequences, { ...REFERENCE_DECODE, threads, contextSize });
    return { sequences, slidingWindow, logprobs };
  })();
  references.set(key, reference);
  reference.catch(() => references.delete(key));
  return { reference, cached: false };
}

async function scoreWith(path: string, sequences: number[][], options: NativeScorerOptions): Promise<Float64Array> {
  const scorer = NativeScorer.open(path, options);
  try {
    return (await scorer.score(sequences.map((tokens) => ({ tokens, from: 0 })))).logprobs;
  } finally {
    scorer.close();
  }
}

/** The same for several configurations, against one scoring of the reference route. */
export async function checkDecodeConfigs(path: string, configs: DecodeConfig[], contextSize = 2048): Promise<DecodeCheck[]> {
  const t0 = performance.now();
  const packed = configs.some((c) => c.sequences > 1);
  const { reference: pending, cached } = referenceFor(path, configs[0]?.threads ?? 1, contextSize, packed);
  const { sequences, slidingWindow, logprobs: reference } = await pending;
  // Seconds this check spent: the reference's scoring when it was done now, not when it was reused.
  const referenceSeconds = cached ? 0 : (performance.now() - t0) / 1000;
  const out: DecodeCheck[] = [];
  for (const config of configs) {
    const t1 = performance.now();
    const got = await scoreWith(path, sequences, { ...config, contextSize });
    let maxDiff = 0;
    for (let i = 0; i < reference.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - reference[i]));
    const seconds = referenceSeconds + (performance.now() - t1) / 1000;
    out.push({
      passed: maxDiff <= toleranceOf(config),
      maxDiff,
      positions: reference.length,
      lengths: sequences.map((s) => s.length),
      slidingWindow,
      config,
      seconds,
    });
  }
  return out;
}

/** One line for logs and `met doctor`. */
export function decodeCheckLine(c: DecodeCheck): string {
  return `decode check: ${decodeConfigLabel({ ...c.config, contextSize: 0 })}: max |Δ logprob| ${c.maxDiff.toExponential(2)} nats over ${c.positions} positions (sequences of ${c.lengths.join(', ')} tokens${c.slidingWindow ? `; sliding window ${c.slidingWindow}` : ''}) against one sequence per decode, flash attention off, batch 512: ${c.passed ? 'pass' : `FAIL (over ${toleranceOf(c.config) || 'exactly 0, several sequences per decode'})`} (${c.seconds.toFixed(1)} s)`;
}

/** The batched generator's configuration (models/nativeGenerator.ts) as the worker runs it. */
export type GeneratorConfig = Required<Pick<NativeGeneratorOptions, 'threads' | 'batchSize' | 'sequences' | 'flashAttention' | 'swaFull' | 'repack'>>;

export interface GeneratorCheck {
  passed: boolean;
  /** Largest |logprob difference| in nats of a sampled token, alone vs beside the others. */
  maxDiff: number;
  /** Requests whose tokens were not the same alone and together. */
  differing: number;
  requests: number;
  config: GeneratorConfig;
  seconds: number;
}

/**
 * The batch-invariance check of the batched generator: a sample's tokens must not depend on what
 * else was decoded beside it. A few fixed greedy requests run one at a time (one sequence per step),
 * then all at once in the same generator (up to `sequences` per step); their tokens must be the same
 * and the logprobs they were sampled from within DECODE_TOLERANCE. Measured on Gemma 3 270M Q4_K_M
 * (CPU): weights not repacked, flash attention off: bitwise equal; repacked (llama.cpp's default),
 * 0.03-0.14 nats apart and tokens diverging within 12.
 */
export async function checkGeneratorConfig(path: string, config: GeneratorConfig, contextSize = 2048): Promise<GeneratorCheck> {
  const started = performance.now();
  const { sequences } = await fixedSequences(path, contextSize);
  const body = sequences[1];
  // Prompts of different lengths, so that the sequences in a step sit at different positions.
  const count = Math.max(2, Math.min(config.sequences, 4));
  const requests = Array.from({ length: count }, (_, i) => ({
    prompt: body.slice(0, 6 + 9 * i),
    seed: i,
    temperature: 0,
    topK: 0,
    topP: 1,
    minP: 0,
    maxTokens: 12,
  }));
  const generator = NativeGenerator.open(path, { ...config, contextSize: Math.min(contextSize, 256) });
  try {
    const alone = [];
    for (const r of requests) alone.push(await generator.generate(r));
    const together = await Promise.all(requests.map((r) => generator.generate(r)));
    let maxDiff = 0;
    let differing = 0;
    alone.forEach((a, i) => {
      const b = together[i];
      if (a.tokens.join() !== b.tokens.join()) differing++;
      for (let j = 0; j < Math.min(a.logprobs.length, b.logprobs.length); j++) maxDiff = Math.max(maxDiff, Math.abs(a.logprobs[j] - b.logprobs[j]));
    });
    return {
      passed: differing === 0 && maxDiff <= DECODE_TOLERANCE,
      maxDiff,
      differing,
      requests: count,
      config,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    generator.close();
  }
}

/** One line for logs. */
export function generatorCheckLine(c: GeneratorCheck): string {
  const { sequences, batchSize, flashAttention, repack, threads } = c.config;
  return `batched sampler check: ${sequences} slots, ${threads} thread(s), batch ${batchSize}, flash attention ${flashAttention}, weights ${repack ? 'repacked' : 'not repacked'}: ${c.requests} greedy requests alone vs together: ${c.differing} with different tokens, max |Δ logprob| ${c.maxDiff.toExponential(2)} nats: ${c.passed ? 'pass' : 'FAIL'} (${c.seconds.toFixed(1)} s)`;
}
