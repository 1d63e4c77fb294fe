import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { Rng } from '../stats/rng';
import type { GenerateRequest, GeneratedCompletion, Precision, ScoredCompletion, SequenceScores, TokenLevelBackend } from './backend';

/**
 * The in-process llama.cpp backend (node-llama-cpp's prebuilt binaries: CPU here, CUDA where a GPU
 * is). One model load per process, one context sequence used by one call at a time.
 *
 * Policies (documented because they change numbers):
 * - Tokens: [BOS] + tokenize(prompt) + tokenize(completion). Prompt and completion are tokenized
 *   separately, so a completion's tokens never depend on the prompt's last characters.
 * - Logprobs are the full-vocabulary log-softmax of the raw logits (no temperature, no top-p),
 *   computed in float64 from llama.cpp's logits: logit - max - log(sum exp(logit - max)).
 * - Sampling is met's own over those logits (temperature, then top-p), with met's seeded RNG, so a
 *   sample is reproducible from its seed and its reported logprobs equal what scoring returns.
 * - The first completion token is predicted from the last prompt token (or BOS for an empty
 *   prompt); every completion token is scored, including the first.
 */
export interface LlamaBackendOptions {
  path: string;
  precision: Precision;
  /** Model name in the corpus (default: from the file name, e.g. tiny). */
  model?: string;
  /** Use the GPU build (CUDA) when one is present. */
  gpu?: boolean;
  contextSize?: number;
  /** CPU threads of the context (default 1; raise for real-size models). */
  threads?: number;
}

/** Next-token logits by token id, highest first (as node-llama-cpp returns them). */
type NextLogits = Map<number, number>;

export class LlamaBackend implements TokenLevelBackend {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly model: string,
    readonly precision: Precision,
    private readonly llama: Llama,
    private readonly llamaModel: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
  ) {}

  static async load(options: LlamaBackendOptions): Promise<LlamaBackend> {
    const { getLlama } = await import('node-llama-cpp');
    const llama = await getLlama({ gpu: options.gpu ? 'auto' : false, build: 'never', logLevel: 'error' as never });
    const llamaModel = await llama.loadModel({ modelPath: options.path });
    // One thread: a tiny model gains nothing from more, and spinning threads collapse on a busy machine.
    const context = await llamaModel.createContext({ contextSize: options.contextSize ?? 512, sequences: 1, threads: options.threads ?? 1 });
    const name = options.model ?? (options.path.split('/').pop() ?? 'model').replace(/-(F32|F16|Q8_0|Q4_0)\.gguf$/i, '').replace(/\.gguf$/, '');
    return new LlamaBackend(name, options.precision, llama, llamaModel, context, context.getSequence());
  }

  /** Runs calls one at a time on the sequence. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  get contextSize(): number {
    return this.context.contextSize;
  }

  countTokens(text: string): number {
    return this.tokenize(text).length;
  }

  tokenize(text: string): number[] {
    return text.length ? (this.llamaModel.tokenize(text) as number[]) : [];
  }

  detokenize(ids: number[]): string {
    return this.llamaModel.detokenize(ids as Token[]);
  }

  private get bos(): number {
    return (this.llamaModel.tokens.bos ?? 1) as number;
  }

  get vocabularySize(): number | undefined {
    return this.llamaModel.fileInfo.metadata.tokenizer?.ggml?.tokens?.length;
  }

  get bosToken(): number | undefined {
    return (this.llamaModel.tokens.bos ?? undefined) as number | undefined;
  }

  private get eos(): number {
    return (this.llamaModel.tokens.eos ?? 2) as number;
  }

  /** Evaluates tokens (after clearing the sequence unless appending); returns next-token logits at flagged indices. */
  private async evaluate(tokens: number[], want: (i: number) => boolean, append = false): Promise<Map<number, NextLogits>> {
    if (!append) await this.sequence.clearHistory();
    const input = tokens.map((t, i) => (want(i) ? ([t, { generateNext: { logits: true } }] as [Token, object]) : (t as Token)));
    const out = await this.sequence.controlledEvaluate(input as never);
    const result = new Map<number, NextLogits>();
    out.forEach((item, i) => {
      const logits = item?.next?.logits;
      if (logits) result.set(i, logits as NextLogits);
    });
    return result;
  }

  /** Full-vocabulary log-softmax of one token. llama.cpp's map is sorted by logit, highest first. */
  private static logSoftmaxOf(next: NextLogits, token: number): number {
    let max = Number.NaN;
    let sum = 0;
    let target = Number.NaN;
    for (const [id, v] of next) {
      if (max !== max) max = v;
      sum += Math.exp(v - max);
      if (id === token) target = v;
    }
    return target - max - Math.log(sum);
  }

  generate(request: GenerateRequest): Promise<GeneratedCompletion> {
    return this.exclusive(async () => {
      const rng = new Rng(request.seed);
      const promptTokens = [this.bos, ...this.tokenize(request.prompt)];
      let next = (await this.evaluate(promptTokens, (i) => i === promptTokens.length - 1)).get(promptTokens.length - 1)!;
      const ids: number[] = [];
      const logprobs: number[] = [];
      let finish: 'stop' | 'length' = 'length';
      let text = '';
      for (let step = 0; step < request.maxTokens; step++) {
        const token = sample(next, request.temperature, request.topP, rng);
        if (token === this.eos) {
          finish = 'stop';
          break;
        }
        ids.push(token);
        logprobs.push(LlamaBackend.logSoftmaxOf(next, token));
        text = this.detokenize(ids);
        const stop = request.stop?.find((s) => s && text.includes(s));
        if (stop) {
          text = text.slice(0, text.indexOf(stop));
          finish = 'stop';
          break;
        }
        if (step + 1 < request.maxTokens) next = (await this.evaluate([token], () => true, true)).get(0)!;
      }
      return { text, tokenIds: ids, tokenLogprobs: request.logprobs ? logprobs : null, finishReason: finish, promptTokens: promptTokens.length };
    });
  }

  /** Teacher-forced logprobs of given completion tokens after a prompt. */
  scoreTokens(prompt: string, completionIds: number[]): Promise<number[]> {
    return this.exclusive(async () => {
      const promptTokens = [this.bos, ...this.tokenize(prompt)];
      const all = [...promptTokens, ...completionIds];
      const start = promptTokens.length - 1;
      const nexts = await this.evaluate(all.slice(0, -1), (i) => i >= start);
      return completionIds.map((t, k) => LlamaBackend.logSoftmaxOf(nexts.get(start + k)!, t));
    });
  }

  /**
   * Teacher-forced scores of a raw token sequence (no BOS added): what a server's echo and
   * prompt_logprobs return. Same evaluation and log-softmax as scoreTokens, so [BOS] + prompt +
   * completion scored here equals score(prompt, completion) on the completion's positions.
   */
  scoreSequence(ids: number[], top = 0): Promise<SequenceScores> {
    return this.exclusive(async () => {
      const out: SequenceScores = { logprobs: [], ranks: [], top: [] };
      if (ids.length < 2) return out;
      const nexts = await this.evaluate(ids.slice(0, -1), () => true);
      for (let i = 0; i + 1 < ids.length; i++) {
        const next = nexts.get(i)!;
        out.logprobs.push(LlamaBackend.logSoftmaxOf(next, ids[i + 1]));
        out.ranks.push(rankOf(next, ids[i + 1]));
        out.top.push(top > 0 ? topLogprobs(next, top) : []);
      }
      return out;
    });
  }

  async score(prompt: string, completion: string): Promise<ScoredCompletion> {
    const tokenIds = this.tokenize(completion);
    const tokenLogprobs = tokenIds.length ? await this.scoreTokens(prompt, tokenIds) : [];
    return { tokenIds, tokenTexts: tokenIds.map((t) => this.detokenize([t])), tokenLogprobs };
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.llamaModel.dispose();
    await this.llama.dispose();
  }
}

/** 1-based rank of a token among the logits (ties share the better rank). */
function rankOf(next: NextLogits, token: number): number {
  const target = next.get(token);
  if (target === undefined) return next.size;
  let above = 0;
  for (const v of next.values()) if (v > target) above++;
  return above + 1;
}

/** The k most likely tokens with their full-vocabulary log-softmax (the map is sorted highest first). */
function topLogprobs(next: NextLogits, k: number): [number, number][] {
  let max = Number.NaN;
  let sum = 0;
  for (const v of next.values()) {
    if (max !== max) max = v;
    sum += Math.exp(v - max);
  }
  const norm = max + Math.log(sum);
  const out: [number, number][] = [];
  for (const [id, v] of next) {
    if (out.length >= k) break;
    out.push([id, v - norm]);
  }
  return out;
}

/** Temperature then nucleus (top-p) sampling over raw logits (already sorted highest first), with met's seeded RNG. */
function sample(next: NextLogits, temperature: number, topP: number, rng: Rng): number {
  const ids: number[] = [];
  const logits: number[] = [];
  for (const [id, v] of next) {
    ids.push(id);
    logits.push(v);
  }
  if (temperature === 0) return ids[0];
  const max = logits[0] / temperature;
  const weights = logits.map((v) => Math.exp(v / temperature - max));
  const total = weights.reduce((a, b) => a + b, 0);
  let keep = weights.length;
  if (topP < 1) {
    let mass = 0;
    for (let k = 0; k < weights.length; k++) {
      mass += weights[k] / total;
      if (mass >= topP) {
        keep = k + 1;
        break;
      }
    }
  }
  let kept = 0;
  for (let k = 0; k < keep; k++) kept += weights[k];
  let u = rng.float() * kept;
  for (let k = 0; k < keep; k++) {
    u -= weights[k];
    if (u <= 0) return ids[k];
  }
  return ids[keep - 1];
}

export function loadLlamaBackend(options: LlamaBackendOptions): Promise<LlamaBackend> {
  return LlamaBackend.load(options);
}
