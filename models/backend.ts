/**
 * A local text model met can sample from and score with. Implemented in-process by llama.cpp
 * (node-llama-cpp, models/llama.ts) and by an OpenAI-compatible server the worker manages.
 */
import type { Precision } from '../config/precision';

export type { Precision };
/** GGUF analogue of each met precision (nf4's nearest 4-bit analogue is Q4_0; reports say so). */
export const GGUF_TYPE: Record<Precision, 'F32' | 'F16' | 'Q8_0' | 'Q4_0'> = {
  fp32: 'F32',
  fp16: 'F16',
  int8: 'Q8_0',
  nf4: 'Q4_0',
};

export interface GenerateRequest {
  prompt: string;
  /** The prompt already tokenized (BOS and chat template included), when the caller rendered it. */
  promptTokens?: number[];
  maxTokens: number;
  temperature: number;
  topP: number;
  /** 0 or absent: off. */
  topK?: number;
  /** 0 or absent: off. */
  minP?: number;
  /** 1 or absent: off (llama.cpp's repeat_penalty). */
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed: number;
  stop?: string[];
  /** Return the log-probability of each sampled token under the (unwarped) model distribution. */
  logprobs?: boolean;
}

export interface GeneratedCompletion {
  text: string;
  tokenIds: number[];
  /** Full-vocabulary log-softmax of each sampled token (no temperature/top-p warping), or null. */
  tokenLogprobs: number[] | null;
  finishReason: 'stop' | 'length';
  promptTokens: number;
}

/**
 * What TextBackend.generate returns: token ids are null when the backend cannot say which tokens it
 * sampled (a managed server that returns no ids and has no tokenizer route); never [] for a non-empty text.
 */
export type SampledCompletion = Omit<GeneratedCompletion, 'tokenIds'> & { tokenIds: number[] | null };

export interface ScoredCompletion {
  /** Token ids of the completion, tokenized after the prompt. */
  tokenIds: number[];
  /** The tokenizer's text of each token. */
  tokenTexts: string[];
  /** Teacher-forced full-vocabulary log-softmax of each completion token. */
  tokenLogprobs: number[];
  /** 1-based rank of each token in its position's distribution, when the backend computes them. */
  tokenRanks?: number[];
}

/** One chat turn, as a chat endpoint takes it. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A chat rendered by a model's own template: the prompt's tokens and the text of that prompt. */
export interface RenderedChat {
  tokens: number[];
  text: string;
}

export interface TextBackend {
  readonly model: string;
  readonly precision: Precision;
  /** Tokens the backend can evaluate at once (prompt + completion), when it knows. */
  readonly contextSize?: number;
  /**
   * The decode route that computes score()'s logprobs, recorded in every logprob row: rows are
   * comparable only within one route (docs/decoding.md). Undefined where the backend cannot say.
   */
  readonly scorerBackend?: string;
  /** Tokens of a text as score() would count them, when the backend can tokenize locally. */
  countTokens?(text: string): number;
  generate(request: GenerateRequest): Promise<SampledCompletion>;
  score(prompt: string, completion: string): Promise<ScoredCompletion>;
  /**
   * The chat rendered with the model's own chat template (ending with the assistant's turn
   * opened), or undefined when the model has none. Backends that cannot render leave it out.
   */
  renderChat?(messages: ChatMessage[]): RenderedChat | undefined;
  /** What applies the sampler (e.g. `llama.cpp (in-process)`), for the sample's sampler record. */
  readonly samplerEngine?: string;
  /** Sequences this backend samples at once (its generate() calls run concurrently); 1 or absent: one at a time. */
  readonly parallel?: number;
  /** The model file's exact GGUF type, when known. */
  readonly ggufType?: string;
  close(): Promise<void>;
}

/** Teacher-forced scores of a raw token sequence: entry i is about token i + 1 given tokens 0..i. */
export interface SequenceScores {
  logprobs: number[];
  /** 1-based rank of each token in its position's distribution (1 = the most likely). */
  ranks: number[];
  /** The `top` most likely tokens at each position as [token id, logprob], most likely first. */
  top: [number, number][][];
}

/**
 * A backend that exposes its tokenizer and scores raw token sequences: what an inference server
 * needs for vLLM-style `echo` + `logprobs`, `prompt_logprobs` and `/tokenize`.
 */
export interface TokenLevelBackend extends TextBackend {
  /** The token a prompt starts with (llama's <s>), when the tokenizer has one. */
  readonly bosToken: number | undefined;
  /** Token ids are 0..vocabularySize-1, when known (requests with others are refused). */
  readonly vocabularySize?: number;
  tokenize(text: string): number[];
  detokenize(ids: number[]): string;
  scoreSequence(ids: number[], top?: number): Promise<SequenceScores>;
}

export function isTokenLevel(backend: TextBackend): backend is TokenLevelBackend {
  const b = backend as Partial<TokenLevelBackend>;
  return typeof b.scoreSequence === 'function' && typeof b.tokenize === 'function' && typeof b.detokenize === 'function';
}

/**
 * The decode route of met's in-process scorer (the native scorer on the CPU, one sequence per
 * decode), as logprob rows record it. Batch size and threads are not part of it: a worker's start
 * check proves they leave the logprobs within 1e-3 nats of the reference route (models/decodeCheck.ts).
 */
export function inProcessScorerRoute(flashAttention: 'off' | 'on' | 'auto'): string {
  return `llama.cpp in-process (CPU, flash attention ${flashAttention}, 1 sequence per decode)`;
}
