import { createRequire } from 'node:module';
import { buildNative, llamaLibDir } from './native/build';

/**
 * met's native scorer (models/native/scorer.cpp): teacher-forced logprobs of given tokens under the
 * full-vocabulary log-softmax of llama.cpp's logits, reduced natively (sum in double) for many
 * positions per decode. Built on first use (a few seconds, once per change; `bash .ci/run` and
 * `scripts/ensure-native.sh` build it ahead) against node-llama-cpp's own prebuilt llama.cpp.
 */
export interface NativeScorerOptions {
  threads: number;
  contextSize: number;
  /** Positions decoded per llama_decode; each holds a vocabulary of float32 logits in memory. */
  batchSize: number;
  /** Sequences packed into one decode (default 1). */
  sequences?: number;
  /** One KV cache for the sequences of a decode (default, llama.cpp's), or a stream per sequence (false). */
  kvUnified?: boolean;
  /** Flash attention: llama.cpp's 'auto' (default), 'on' or 'off'. */
  flashAttention?: 'auto' | 'on' | 'off';
  /** The full-size sliding-window cache (default off). */
  swaFull?: boolean;
  /** llama.cpp's CPU weight repacking (default on, llama.cpp's default; the batched generator's route has it off). */
  repack?: boolean;
}

/** A native scorer's decode configuration as one line (logs, doctor, sampler records). */
export function decodeConfigLabel(o: NativeScorerOptions): string {
  const kv = (o.sequences ?? 1) > 1 ? (o.kvUnified === false ? ' (a KV stream each)' : ' (one shared KV cache)') : '';
  return `${o.threads} thread(s), batch ${o.batchSize}, ${o.sequences ?? 1} sequence(s) per decode${kv}, flash attention ${o.flashAttention ?? 'auto'}, full SWA cache ${o.swaFull ? 'on' : 'off'}`;
}

export interface NativeScores {
  /** Per scored position, in order: logprob of the next token. */
  logprobs: Float64Array;
  /** 1-based ranks (when asked), same order. */
  ranks: Int32Array;
  /** `top` ids and logprobs per position (when asked), position-major. */
  topIds: Int32Array;
  topLogprobs: Float64Array;
}

interface Addon {
  Scorer: new (
    path: string,
    options: Omit<NativeScorerOptions, 'flashAttention'> & { flashAttention: number; libDir: string },
  ) => {
    readonly vocabularySize: number;
    score(tokens: Int32Array, starts: Int32Array, from: Int32Array, options?: { ranks?: boolean; top?: number }): Promise<NativeScores>;
    close(): void;
  };
}

let addon: Addon | undefined;

function loadAddon(): Addon {
  addon ??= createRequire(import.meta.url)(buildNative({ quiet: true })) as Addon;
  return addon;
}

/** One scored sequence: its tokens, and the first index whose next token is scored. */
export interface ScoreItem {
  tokens: readonly number[];
  from: number;
}

export class NativeScorer {
  private constructor(private readonly scorer: InstanceType<Addon['Scorer']>) {}

  /** Loads the model a second time (llama.cpp maps the file, so the weights' pages are shared). */
  static open(path: string, options: NativeScorerOptions): NativeScorer {
    const { Scorer } = loadAddon();
    const flashAttention = { auto: -1, off: 0, on: 1 }[options.flashAttention ?? 'auto'];
    return new NativeScorer(new Scorer(path, { ...options, flashAttention, libDir: llamaLibDir() }));
  }

  get vocabularySize(): number {
    return this.scorer.vocabularySize;
  }

  /** Scores every position i >= item.from of each item (the logprob of token i + 1). */
  score(items: readonly ScoreItem[], options: { ranks?: boolean; top?: number } = {}): Promise<NativeScores> {
    let total = 0;
    for (const item of items) total += item.tokens.length;
    const tokens = new Int32Array(total);
    const starts = new Int32Array(items.length + 1);
    const from = new Int32Array(items.length);
    let at = 0;
    items.forEach((item, i) => {
      tokens.set(item.tokens, at);
      at += item.tokens.length;
      starts[i + 1] = at;
      from[i] = item.from;
    });
    return this.scorer.score(tokens, starts, from, options);
  }

  close(): void {
    this.scorer.close();
  }
}
