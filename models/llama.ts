import { availableParallelism } from 'node:os';
import { checkGgufHeader } from './ggufHeader';
import { statSync } from 'node:fs';
import type { ChatHistoryItem, JinjaTemplateChatWrapper, Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import type {
  ChatMessage,
  GenerateRequest,
  RenderedChat,
  GeneratedCompletion,
  Precision,
  ScoredCompletion,
  SequenceScores,
  TokenLevelBackend,
} from './backend';
import { inProcessScorerRoute } from './backend';
import { checkChatTemplate } from './chatTemplate';
import type { GeneratorConfig } from './decodeCheck';
import { checkPrecisionLabel, fileTypeOf, type GgufFileType, precisionLabel } from './ggufType';
import { NativeScorer } from './nativeScorer';
import { NativeGenerator, type NativeGeneratorOptions } from './nativeGenerator';

/**
 * The in-process llama.cpp backend (node-llama-cpp's prebuilt binaries: CPU here, CUDA where a GPU
 * is). One model load per process, one context sequence used by one call at a time.
 *
 * Policies (documented because they change numbers):
 * - Tokens: [BOS] + tokenize(prompt) + tokenize(completion). Prompt and completion are tokenized
 *   separately, so a completion's tokens never depend on the prompt's last characters.
 * - Scoring is teacher-forced over the whole sequence in batches (met's native scorer, linked to
 *   the same llama.cpp): each token's logprob is the full-vocabulary log-softmax of llama.cpp's
 *   float32 logits, reduced in double (no temperature, no top-k/top-p). llama.cpp's logits depend
 *   on how tokens are batched (quantized matrix paths differ by up to ~0.3 nats between one token
 *   at a time and a batch on Gemma 3 Q4_K_M), so every logprob met stores, the sampler's included,
 *   comes from this one batched route: sampled completions are re-scored after sampling.
 * - Sampling is llama.cpp's own sampler chain, in node-llama-cpp's order (llama.cpp's server
 *   order): repetition/presence/frequency penalties over the last 64 tokens of prompt and
 *   completion, top-k, top-p, min-p, temperature, then a draw seeded with the request's seed;
 *   temperature 0 is greedy. Same seed, same settings, same file: the same completion.
 * - At `parallel` 1 on the CPU the tokens are drawn by met's native generator at one slot with
 *   weights repacked as node-llama-cpp repacks them: the same tokens as node-llama-cpp's own loop
 *   (tested on the tiny models and Gemma), 1.6x faster at 2 threads (docs/decoding.md), so the
 *   sampler record is the same. The GPU build still samples through node-llama-cpp's loop.
 * - The first completion token is predicted from the last prompt token (or BOS for an empty
 *   prompt); every completion token is scored, including the first.
 * - With `parallel` N > 1, sampling is met's batched generator instead (models/native/generator.cpp):
 *   N sequences per decode, the same sampler chain and seeds, weights not repacked so that a
 *   sample's tokens do not depend on what else was decoded beside it (checked when a worker starts,
 *   models/decodeCheck.ts). Its tokens are not always node-llama-cpp's (repacked weights give other
 *   logits), so the sampler record names the route and N. Logprobs are re-scored as above: the same
 *   numbers whatever the route.
 */
export interface LlamaBackendOptions {
  path: string;
  precision: Precision;
  /** Model name in the corpus (default: from the file name, e.g. tiny). */
  model?: string;
  /** Use the GPU build (CUDA) when one is present. */
  gpu?: boolean;
  /** Tokens per sequence (prompt + completion); default 2048, capped by the model's training context. */
  contextSize?: number;
  /**
   * CPU threads (default: every core for a real-size model, 1 for a file under 64 MB such as met's
   * tiny models, whose decode is too short to split: llama.cpp's threads spin-wait on each other,
   * and on a busy machine a 2-thread tiny model ran 100x slower than 1 thread here).
   */
  threads?: number;
  /** Positions scored per llama.cpp decode (default 128; each holds a vocabulary of logits). */
  batchSize?: number;
  /** Flash attention in both routes (sampling and the native scorer): 'off' by default (docs/decoding.md). */
  flashAttention?: 'off' | 'on' | 'auto';
  /** Sequences sampled at once by met's batched generator (default 1: one at a time). */
  parallel?: number;
  /**
   * Who draws the tokens at `parallel` 1: met's native generator at one slot ('native', the CPU
   * default) or node-llama-cpp's own loop ('node-llama-cpp', the GPU build's). The same tokens;
   * the choice is for the GPU and for comparing the two (tests, bench/sample/oneSequence.ts).
   */
  oneSequenceSampler?: 'native' | 'node-llama-cpp';
  /** Where to report loading (file, GGUF type, size, threads, seconds). */
  log?: (line: string) => void;
}

/** Penalties look this far back, as llama.cpp's server does by default (repeat_last_n = 64). */
const PENALTY_WINDOW = 64;
const SMALL_MODEL_BYTES = 64 * 1024 * 1024;

/**
 * Marker tokens: user-defined tokens spelled `<word_word>` (Gemma's `<start_of_image>`) or
 * `[word]` (Gemma's `[multimodal]`). A GGUF marks them user-defined like the HTML tags a model
 * writes as text (Gemma's `<td>`, `</strong>`), which stay in the text.
 */
const MARKER_SPELLING = /^(<[^<>\s]*_[^<>\s]*>|\[[^[\]\s]+\])$/;

/**
 * The text of completion tokens as met stores it, whichever backend sampled them (docs/text.md):
 * the file's own vocabulary detokenizes the sampled ids; control tokens render as nothing, and so
 * do marker tokens (MARKER_SPELLING), which llama.cpp's servers render as literal markup. Their ids
 * stay in tokenIds.
 */
export class StoredText {
  private readonly markers = new Map<number, boolean>();
  constructor(private readonly llamaModel: LlamaModel) {}

  of(ids: number[]): string {
    const kept = ids.filter((t) => !this.isMarker(t));
    return kept.length ? this.llamaModel.detokenize(kept as Token[]) : '';
  }

  private isMarker(token: number): boolean {
    let marker = this.markers.get(token);
    if (marker === undefined) {
      marker = this.llamaModel.getTokenAttributes(token as Token).userDefined && MARKER_SPELLING.test(this.llamaModel.detokenize([token as Token], true));
      this.markers.set(token, marker);
    }
    return marker;
  }
}

/** A GGUF's vocabulary alone (no weights in use, no context): met's stored-text rule for a backend that samples elsewhere. */
export async function loadStoredText(path: string): Promise<{ text: StoredText; close(): Promise<void> }> {
  const { getLlama } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  checkGgufHeader(path); // a malformed header fails here, named, not inside llama.cpp (issue #28)
  const llamaModel = await llama.loadModel({ modelPath: path, vocabOnly: true });
  return { text: new StoredText(llamaModel), close: () => llamaModel.dispose() };
}

export class LlamaBackend implements TokenLevelBackend {
  private queue: Promise<unknown> = Promise.resolve();
  private scorer: NativeScorer | undefined;
  private generator: NativeGenerator | undefined;
  private sequence: LlamaContextSequence | undefined;
  private chatWrapper: JinjaTemplateChatWrapper | undefined;
  private readonly text: StoredText;

  private constructor(
    readonly model: string,
    readonly precision: Precision,
    /** The file's exact GGUF type (F32, F16, Q8_0, Q4_K_M, ...). */
    readonly ggufType: GgufFileType,
    private readonly options: Required<Pick<LlamaBackendOptions, 'path' | 'threads' | 'batchSize' | 'flashAttention' | 'parallel'>> & { contextSize: number },
    private readonly llama: Llama,
    private readonly llamaModel: LlamaModel,
    /** node-llama-cpp's context, only where its own loop samples (oneSequenceSampler). */
    private readonly context: LlamaContext | undefined,
  ) {
    this.text = new StoredText(llamaModel);
  }

  static async load(options: LlamaBackendOptions): Promise<LlamaBackend> {
    const started = performance.now();
    const { getLlama, JinjaTemplateChatWrapper } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: options.gpu ? 'auto' : false, build: 'never', logLevel: 'error' as never });
    checkGgufHeader(options.path); // a malformed header fails here, named, not inside llama.cpp (issue #28)
    const parallel = options.parallel ?? 1;
    const sampler = options.oneSequenceSampler ?? (options.gpu ? 'node-llama-cpp' : 'native');
    // Only node-llama-cpp's own loop needs its weights; otherwise its vocabulary (tokens, template) is all met uses.
    const onSequence = parallel === 1 && sampler === 'node-llama-cpp';
    const llamaModel = await llama.loadModel({ modelPath: options.path, vocabOnly: !onSequence });
    const ggufType = fileTypeOf(llamaModel.fileInfo);
    try {
      checkPrecisionLabel(options.path, ggufType, options.precision);
    } catch (error) {
      await llamaModel.dispose();
      throw error;
    }
    const threads = options.threads ?? (statSync(options.path).size < SMALL_MODEL_BYTES ? 1 : availableParallelism());
    // A vocabulary-only load reports no training context (0): the file's metadata has it.
    const trained = llamaModel.trainContextSize || Number(llamaModel.fileInfo.architectureMetadata?.context_length ?? 0);
    const contextSize = Math.min(options.contextSize ?? 2048, trained > 0 ? trained : Number.POSITIVE_INFINITY);
    const batchSize = Math.min(options.batchSize ?? 128, contextSize);
    const flashAttention = options.flashAttention ?? 'off';
    const context = onSequence
      ? await llamaModel.createContext({
          contextSize,
          sequences: 1,
          threads,
          batchSize,
          flashAttention: flashAttention === 'auto' ? 'auto' : flashAttention === 'on',
        })
      : undefined;
    const name = options.model ?? (options.path.split('/').pop() ?? 'model').replace(/-(F32|F16|Q8_0|Q4_0)\.gguf$/i, '').replace(/\.gguf$/, '');
    const backend = new LlamaBackend(
      name,
      options.precision,
      ggufType,
      { path: options.path, threads, batchSize, contextSize: context?.contextSize ?? contextSize, flashAttention, parallel },
      llama,
      llamaModel,
      context,
    );
    const template = backend.chatTemplate;
    if (template) {
      // Bounded first (time and heap, in a thread of its own): a hostile template cannot hang or kill this process (issue #28).
      try {
        await checkChatTemplate(template, options.path);
      } catch (err) {
        await backend.close();
        throw err;
      }
      backend.chatWrapper = new JinjaTemplateChatWrapper({ template });
    }
    if (parallel > 1) {
      // Flash attention off whatever the scorer's setting: the batch-invariance check measured it so.
      backend.generator = NativeGenerator.open(options.path, backend.generatorOptions);
    }
    const mb = (statSync(options.path).size / 1e6).toFixed(0);
    options.log?.(
      `loaded ${options.path} (${mb} MB) as ${name} ${precisionLabel(options.precision, ggufType)}: ${threads} threads, context ${contextSize}, batch ${batchSize}, flash attention ${flashAttention}, ${parallel > 1 ? `${parallel} sequences sampled at once (met's batched sampler)` : `1 sequence at a time (${onSequence ? "node-llama-cpp's loop" : "met's native sampler"})`}, ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    return backend;
  }

  /**
   * The native generator's settings. At parallel 1: one slot, weights repacked and flash attention
   * as node-llama-cpp's context has them, so its tokens are that loop's. At N > 1: weights not
   * repacked and flash attention off, the configuration the batch-invariance check passes.
   */
  private get generatorOptions(): NativeGeneratorOptions {
    const { threads, contextSize, batchSize, parallel, flashAttention } = this.options;
    return parallel > 1
      ? { threads, contextSize, batchSize, sequences: parallel, flashAttention: 'off', repack: false }
      : { threads, contextSize, batchSize, sequences: 1, flashAttention, repack: true };
  }

  /** Runs calls one at a time on the sequence. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  /** The native scorer, opened on first use (CPU; the same file, mapped once by the OS). */
  private nativeScorer(): NativeScorer {
    this.scorer ??= NativeScorer.open(this.options.path, {
      threads: this.options.threads,
      contextSize: this.options.contextSize,
      batchSize: this.options.batchSize,
      flashAttention: this.options.flashAttention,
      sequences: 1,
      swaFull: false,
    });
    return this.scorer;
  }

  get contextSize(): number {
    return this.options.contextSize;
  }

  get threads(): number {
    return this.options.threads;
  }

  /** Sequences sampled at once (1: one call at a time). */
  get parallel(): number {
    return this.options.parallel;
  }

  /** The batched generator's configuration, for its batch-invariance check; undefined at parallel 1. */
  get generatorConfig(): GeneratorConfig | undefined {
    return this.options.parallel > 1
      ? {
          threads: this.options.threads,
          batchSize: this.options.batchSize,
          sequences: this.options.parallel,
          flashAttention: 'off',
          swaFull: false,
          repack: false,
        }
      : undefined;
  }

  /** The route recorded in this backend's logprob rows (docs/decoding.md). */
  get scorerBackend(): string {
    return inProcessScorerRoute(this.options.flashAttention);
  }

  /** The decode route of this backend's stored logprobs (docs/decoding.md). */
  get decode(): { threads: number; batchSize: number; sequences: 1; kvUnified: true; flashAttention: 'off' | 'on' | 'auto'; swaFull: false } {
    return {
      threads: this.options.threads,
      batchSize: this.options.batchSize,
      sequences: 1,
      kvUnified: true,
      flashAttention: this.options.flashAttention,
      swaFull: false,
    };
  }

  countTokens(text: string): number {
    return this.tokenize(text).length;
  }

  tokenize(text: string): number[] {
    return text.length ? this.llamaModel.tokenize(text) : [];
  }

  detokenize(ids: number[]): string {
    return this.llamaModel.detokenize(ids as Token[]);
  }

  private get bos(): number {
    return this.llamaModel.tokens.bos ?? 1;
  }

  get vocabularySize(): number | undefined {
    return this.llamaModel.fileInfo.metadata.tokenizer?.ggml?.tokens?.length;
  }

  get bosToken(): number | undefined {
    return this.llamaModel.tokens.bos ?? undefined;
  }

  /** The model's chat template (GGUF `tokenizer.chat_template`), when it has one. */
  get chatTemplate(): string | undefined {
    const template = (this.llamaModel.fileInfo.metadata.tokenizer as { chat_template?: unknown } | undefined)?.chat_template;
    return typeof template === 'string' && template.length ? template : undefined;
  }

  /** Names the decode route too: stored logprobs are comparable only within one route (docs/decoding.md). */
  get samplerEngine(): string {
    const scored = `batch ${this.options.batchSize}, flash attention ${this.options.flashAttention}, 1 sequence per decode`;
    // At parallel 1 both samplers draw node-llama-cpp's tokens (the same route: models/llama.ts's header).
    if (this.options.parallel === 1) return `llama.cpp (in-process; ${scored})`;
    // A different route from the one above (other tokens for the same seed): a slice never mixes them unnoticed.
    return `llama.cpp (in-process, met batched sampler: ${this.options.parallel} sequences per decode, weights not repacked, flash attention off; logprobs ${scored})`;
  }

  /**
   * Renders a chat with the GGUF's own template (node-llama-cpp's Jinja renderer), BOS included, up
   * to the opened assistant turn; undefined when the file has no template. The turn's end is an
   * end-of-generation token in llama.cpp's vocabulary, so sampling stops there.
   */
  renderChat(messages: ChatMessage[]): RenderedChat | undefined {
    if (!this.chatWrapper) return undefined;
    const chatHistory: ChatHistoryItem[] = messages.map((m) =>
      m.role === 'system'
        ? { type: 'system', text: m.content }
        : m.role === 'user'
          ? { type: 'user', text: m.content }
          : { type: 'model', response: [m.content] },
    );
    chatHistory.push({ type: 'model', response: [] });
    const { contextText } = this.chatWrapper.generateContextState({ chatHistory });
    const tokens = contextText.tokenize(this.llamaModel.tokenizer) as number[];
    return { tokens, text: this.llamaModel.detokenize(tokens as Token[], true) };
  }

  /** The text of completion tokens as met stores it (StoredText: met's one rule, for every backend). */
  storedText(ids: number[]): string {
    return this.text.of(ids);
  }

  private promptTokens(prompt: string | number[]): number[] {
    return typeof prompt === 'string' ? [this.bos, ...this.tokenize(prompt)] : prompt;
  }

  generate(request: GenerateRequest): Promise<GeneratedCompletion> {
    if (this.generator && this.options.parallel > 1) return this.generateNative(this.generator, request, (prompt, ids) => this.scoreTokens(prompt, ids));
    // One call at a time, its scoring included, whichever loop samples.
    return this.exclusive(() =>
      this.context
        ? this.generateOnSequence(this.context, request)
        : this.generateNative((this.generator ??= NativeGenerator.open(this.options.path, this.generatorOptions)), request, (prompt, ids) =>
            this.scoreNow(prompt, ids),
          ),
    );
  }

  /** generate() through node-llama-cpp's own loop (the GPU build's; oneSequenceSampler). */
  private async generateOnSequence(context: LlamaContext, request: GenerateRequest): Promise<GeneratedCompletion> {
    const sequence = (this.sequence ??= context.getSequence());
    const promptTokens = this.promptTokens(request.promptTokens ?? request.prompt);
    const room = context.contextSize - promptTokens.length;
    if (room < 1) throw new Error(`the prompt has ${promptTokens.length} tokens; the context holds ${context.contextSize} (raise contextSize)`);
    const maxTokens = Math.min(request.maxTokens, room);
    const penalized = (request.repetitionPenalty ?? 1) !== 1 || (request.presencePenalty ?? 0) !== 0 || (request.frequencyPenalty ?? 0) !== 0;
    const history = [...promptTokens];
    await sequence.clearHistory();
    const ids: number[] = [];
    let finish: 'stop' | 'length' = 'length';
    let text = '';
    const tokens = sequence.evaluate(promptTokens as Token[], {
      temperature: request.temperature,
      // null (not undefined) turns a sampler off; node-llama-cpp's own defaults are top-k 40, top-p 0.95.
      topK: (request.topK && request.topK > 0 ? request.topK : null) as number,
      topP: (request.topP < 1 ? request.topP : null) as number,
      minP: request.minP ?? 0,
      seed: request.seed >>> 0,
      repeatPenalty: penalized
        ? {
            punishTokens: () => history.slice(-PENALTY_WINDOW) as Token[],
            maxPunishTokens: PENALTY_WINDOW,
            penalty: request.repetitionPenalty ?? 1,
            presencePenalty: request.presencePenalty ?? 0,
            frequencyPenalty: request.frequencyPenalty ?? 0,
          }
        : undefined,
    });
    for await (const token of tokens) {
      if (this.llamaModel.isEogToken(token)) {
        finish = 'stop';
        break;
      }
      ids.push(token);
      history.push(token);
      text = this.storedText(ids);
      const stop = request.stop?.find((s) => s && text.includes(s));
      if (stop) {
        text = text.slice(0, text.indexOf(stop));
        finish = 'stop';
        break;
      }
      if (ids.length >= maxTokens) break;
    }
    // The loop also ends by itself at an end-of-generation token it does not yield.
    if (finish === 'length' && ids.length < maxTokens) finish = 'stop';
    const tokenLogprobs = request.logprobs && ids.length ? await this.scoreNow(promptTokens, ids) : request.logprobs ? [] : null;
    return { text, tokenIds: ids, tokenLogprobs, finishReason: finish, promptTokens: promptTokens.length };
  }

  /**
   * generate() through met's native generator: the request waits for a slot. Stop strings are
   * applied afterwards with the same rule as node-llama-cpp's loop above (the first prefix whose
   * stored text holds one), so only the compute past a stop is lost.
   */
  private async generateNative(
    generator: NativeGenerator,
    request: GenerateRequest,
    score: (promptTokens: number[], ids: number[]) => Promise<number[]>,
  ): Promise<GeneratedCompletion> {
    const promptTokens = this.promptTokens(request.promptTokens ?? request.prompt);
    const room = this.contextSize - promptTokens.length;
    if (room < 1) throw new Error(`the prompt has ${promptTokens.length} tokens; the context holds ${this.contextSize} (raise contextSize)`);
    const generated = await generator.generate({
      prompt: promptTokens,
      seed: request.seed >>> 0,
      temperature: request.temperature,
      topK: request.topK ?? 0,
      topP: request.topP,
      minP: request.minP ?? 0,
      maxTokens: Math.min(request.maxTokens, room),
      repetitionPenalty: request.repetitionPenalty ?? 1,
      presencePenalty: request.presencePenalty ?? 0,
      frequencyPenalty: request.frequencyPenalty ?? 0,
      penaltyWindow: PENALTY_WINDOW,
      // The logits a token was sampled from are not what met stores (re-scored below when asked).
      logprobs: false,
    });
    let ids = Array.from(generated.tokens);
    let finish: 'stop' | 'length' = generated.eog ? 'stop' : 'length';
    let text = this.storedText(ids);
    if (request.stop?.some((s) => s)) {
      for (let k = 1; k <= ids.length; k++) {
        const prefix = this.storedText(ids.slice(0, k));
        const stop = request.stop.find((s) => s && prefix.includes(s));
        if (stop) {
          ids = ids.slice(0, k);
          text = prefix.slice(0, prefix.indexOf(stop));
          finish = 'stop';
          break;
        }
      }
    }
    const tokenLogprobs = request.logprobs && ids.length ? await score(promptTokens, ids) : request.logprobs ? [] : null;
    return { text, tokenIds: ids, tokenLogprobs, finishReason: finish, promptTokens: promptTokens.length };
  }

  /** Teacher-forced logprobs of completion tokens after prompt tokens (BOS included), by the caller already holding the queue. */
  private async scoreNow(promptTokens: number[], completionIds: number[]): Promise<number[]> {
    const scores = await this.nativeScorer().score([{ tokens: [...promptTokens, ...completionIds], from: promptTokens.length - 1 }]);
    return Array.from(scores.logprobs);
  }

  /** Teacher-forced logprobs of given completion tokens after a prompt (text, or its tokens with BOS). */
  async scoreTokens(prompt: string | number[], completionIds: number[]): Promise<number[]> {
    return (await this.scoreTokensWithRanks(prompt, completionIds)).logprobs;
  }

  /** scoreTokens with each token's 1-based rank under the same distribution. */
  scoreTokensWithRanks(prompt: string | number[], completionIds: number[]): Promise<{ logprobs: number[]; ranks: number[] }> {
    return this.exclusive(async () => {
      if (!completionIds.length) return { logprobs: [], ranks: [] };
      const promptTokens = this.promptTokens(prompt);
      const scores = await this.nativeScorer().score([{ tokens: [...promptTokens, ...completionIds], from: promptTokens.length - 1 }], { ranks: true });
      return { logprobs: Array.from(scores.logprobs), ranks: Array.from(scores.ranks) };
    });
  }

  /**
   * Teacher-forced scores of a raw token sequence (no BOS added): what a server's echo and
   * prompt_logprobs return. Same route as scoreTokens, so [BOS] + prompt + completion scored here
   * equals score(prompt, completion) on the completion's positions.
   */
  scoreSequence(ids: number[], top = 0): Promise<SequenceScores> {
    return this.exclusive(async () => {
      const out: SequenceScores = { logprobs: [], ranks: [], top: [] };
      if (ids.length < 2) return out;
      const scores = await this.nativeScorer().score([{ tokens: ids, from: 0 }], { ranks: true, top });
      for (let i = 0; i < scores.logprobs.length; i++) {
        out.logprobs.push(scores.logprobs[i]);
        out.ranks.push(scores.ranks[i]);
        const alternatives: [number, number][] = [];
        for (let j = 0; j < top; j++) alternatives.push([scores.topIds[i * top + j], scores.topLogprobs[i * top + j]]);
        out.top.push(alternatives);
      }
      return out;
    });
  }

  async score(prompt: string, completion: string): Promise<ScoredCompletion> {
    const tokenIds = this.tokenize(completion);
    const { logprobs, ranks } = await this.scoreTokensWithRanks(prompt, tokenIds);
    return { tokenIds, tokenTexts: tokenIds.map((t) => this.detokenize([t])), tokenLogprobs: logprobs, tokenRanks: ranks };
  }

  async close(): Promise<void> {
    this.generator?.close();
    this.generator = undefined;
    await this.exclusive(async () => {
      this.scorer?.close();
      this.scorer = undefined;
    });
    await this.context?.dispose();
    await this.llamaModel.dispose();
    await this.llama.dispose();
  }
}

export function loadLlamaBackend(options: LlamaBackendOptions): Promise<LlamaBackend> {
  return LlamaBackend.load(options);
}
