import { createRequire } from 'node:module';
import { buildNative, llamaLibDir } from './native/build';

/**
 * met's batched generator (models/native/generator.cpp): one llama.cpp context with `sequences`
 * slots, a queue of seeded requests, and a native loop that decodes one token for every active
 * slot per llama_decode and samples each with its own sampler chain (node-llama-cpp's order).
 * Lives in the same addon as the native scorer.
 */
export interface NativeGeneratorOptions {
  threads: number;
  /** Tokens per sequence (prompt and completion); each slot has a KV stream of this size. */
  contextSize: number;
  /** Prompt positions per prefill decode. */
  batchSize: number;
  /** Slots: sequences decoded together. */
  sequences: number;
  flashAttention?: 'auto' | 'on' | 'off';
  swaFull?: boolean;
  /** llama.cpp's CPU weight repacking (default off: see generator.cpp). */
  repack?: boolean;
}

export interface NativeGenerateRequest {
  /** The prompt's tokens, BOS included where the model wants one. */
  prompt: readonly number[];
  seed: number;
  temperature: number;
  /** 0 or less: no top-k. */
  topK: number;
  /** 1: no top-p. */
  topP: number;
  minP: number;
  maxTokens: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Tokens the penalties look back over (prompt included). */
  penaltyWindow?: number;
  /** Each token's logprob under the logits it was sampled from (default true; false skips a pass over the vocabulary per token). */
  logprobs?: boolean;
}

export interface NativeGenerated {
  /** Sampled tokens, without the end-of-generation token. */
  tokens: Int32Array;
  /** Each token's logprob under the full-vocabulary log-softmax of the logits it was sampled from (empty when not asked). */
  logprobs: Float64Array;
  /** True when the sequence ended with an end-of-generation token, false at maxTokens. */
  eog: boolean;
}

interface Addon {
  Generator: new (
    path: string,
    options: Omit<NativeGeneratorOptions, 'flashAttention'> & { flashAttention: number; libDir: string },
  ) => {
    readonly vocabularySize: number;
    generate(prompt: Int32Array, options: Omit<NativeGenerateRequest, 'prompt'>): Promise<NativeGenerated>;
    close(): void;
  };
}

let addon: Addon | undefined;

function loadAddon(): Addon {
  addon ??= createRequire(import.meta.url)(buildNative({ quiet: true })) as Addon;
  return addon;
}

export class NativeGenerator {
  private constructor(
    private readonly generator: InstanceType<Addon['Generator']>,
    readonly options: NativeGeneratorOptions,
  ) {}

  /** Loads the model (llama.cpp maps the file, so its pages are shared with other loads). */
  static open(path: string, options: NativeGeneratorOptions): NativeGenerator {
    const { Generator } = loadAddon();
    const flashAttention = { auto: -1, off: 0, on: 1 }[options.flashAttention ?? 'off'];
    return new NativeGenerator(new Generator(path, { ...options, flashAttention, libDir: llamaLibDir() }), options);
  }

  get vocabularySize(): number {
    return this.generator.vocabularySize;
  }

  /** Queues one request; it runs as soon as a slot is free. */
  generate(request: NativeGenerateRequest): Promise<NativeGenerated> {
    const { prompt, ...options } = request;
    return this.generator.generate(Int32Array.from(prompt), options);
  }

  /** Stops the loop after its current step; requests not finished are rejected. */
  close(): void {
    this.generator.close();
  }
}
